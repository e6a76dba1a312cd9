/** Coloured, padded, line-prefixed output: `reference-data │ listening on :8082`. */

const PALETTE = [36, 35, 33, 32, 34, 91, 96, 95, 93, 92, 94] as const; // cyan magenta yellow green blue …

export function useColor(): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== "") return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== "0") return true;
  return Boolean(process.stdout.isTTY) && process.env.TERM !== "dumb";
}

export interface Style {
  color: boolean;
  paint(code: number, text: string): string;
  bold(text: string): string;
  dim(text: string): string;
  green(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
}

export function style(color: boolean): Style {
  const paint = (code: number, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  return {
    color,
    paint,
    bold: (t) => paint(1, t),
    dim: (t) => paint(2, t),
    green: (t) => paint(32, t),
    red: (t) => paint(31, t),
    yellow: (t) => paint(33, t),
  };
}

export function colorFor(index: number): number {
  return PALETTE[index % PALETTE.length] ?? 36;
}

export function makePrefix(name: string, width: number, code: number, s: Style): string {
  return `${s.paint(code, name.padEnd(width))} ${s.dim("│")} `;
}

/** Copies a child's stream to `write`, one prefixed line at a time. Resolves when the stream ends. */
export async function pipeLines(
  stream: ReadableStream<Uint8Array>,
  prefix: string,
  write: (text: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  const emit = (line: string) => write(`${prefix}${line.replace(/\r$/, "")}\n`);
  try {
    for await (const chunk of stream) {
      pending += decoder.decode(chunk, { stream: true });
      let nl = pending.indexOf("\n");
      while (nl !== -1) {
        emit(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        nl = pending.indexOf("\n");
      }
    }
  } catch {
    // stream torn down with the process
  }
  pending += decoder.decode();
  if (pending.length > 0) emit(pending);
}
