export { type DataDeclaration, dataDeclarationSchema } from "./data.ts";
export { addRoute, addUpstream } from "./edit.ts";
export { formatIssues, formatPath, RouteFileError, type RouteFileIssue } from "./errors.ts";
export {
  BUILTIN_DEFAULTS,
  type LoadedRouteFile,
  loadRouteFile,
  loadRouteText,
  parseRouteFile,
  type ResolvedUpstream,
  type RouteFileEnv,
  resolveRouteFile,
} from "./load.ts";
export { type QueueDeclaration, queueDeclarationSchema } from "./queues.ts";
export {
  type EnvRef,
  METHODS,
  type RouteFile,
  type RouteFileInput,
  type RouteFileRoute,
  type RouteFileRouteInput,
  routeFileSchema,
  type UpstreamDeclaration,
  type UpstreamDeclarationInput,
} from "./schema.ts";
export {
  GATEWAY_PATHS,
  type ListMerge,
  ROOT_PREFIXES,
  type RouteDefinition,
  type RouteGate,
  type RoutePolicies,
  type RouteState,
  type RouteTable,
  type Upstream,
  type WriteMode,
} from "./types.ts";
