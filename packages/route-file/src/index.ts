export { type DataDeclaration, dataDeclarationSchema } from "./data.ts";
export { type QueueDeclaration, queueDeclarationSchema } from "./queues.ts";
