import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A finished command: its exit code and what it printed. */
export type Run = { code: number; stdout: string; stderr: string };

/** Runs a command to its end with stdin closed; `env` is added to this process's environment. */
export async function run(cmd: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  const proc = Bun.spawn(cmd, {
    cwd,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** The run's exit code with its output, so a failure shows why. */
export const outcome = (r: Run) => ({ code: r.code, output: `${r.stdout}\n${r.stderr}`.trim().slice(-4000) });

/** Asserts the run exited with `code`; on failure the message carries its output. */
export const expectExit = (r: Run, code: number) =>
  expect(outcome(r)).toEqual({ code, output: expect.any(String) });

/**
 * A copy of the repository at `root` in a new temporary folder: the working tree as git sees it (tracked and new
 * files, nothing ignored), so nothing a test generates lands in the checkout, then `bun install` from bun's cache
 * into the copy (a scaffold's own `bun install` must not touch the checkout's node_modules).
 */
export async function copyRepository(root: string, prefix: string): Promise<string> {
  const copy = await mkdtemp(join(tmpdir(), prefix));
  const files = await run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], root);
  expectExit(files, 0);
  const present = files.stdout.split("\0").filter((path) => path && existsSync(join(root, path)));
  const list = join(copy, ".files");
  await writeFile(list, `${present.join("\0")}\0`);
  expectExit(await run(["tar", "--null", "-T", list, "-cf", join(copy, ".files.tar")], root), 0);
  expectExit(await run(["tar", "-xf", ".files.tar"], copy), 0);
  await rm(join(copy, ".files.tar"));
  await rm(list);
  expectExit(await run([process.execPath, "install"], copy), 0);
  return copy;
}
