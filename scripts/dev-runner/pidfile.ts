import { closeSync, existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** On Linux, guard against pid reuse: a live pid only counts if it still looks like a dev runner. */
function looksLikeRunner(pid: number): boolean {
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync("/proc/self/cmdline")) return true; // no procfs (macOS): trust the pid
  try {
    return readFileSync(cmdline, "utf8").includes("dev");
  } catch {
    return false;
  }
}

function readPid(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export type Acquired = { ok: true } | { ok: false; pid: number };

/** Creates the pid file with our pid; replaces a stale one; reports the pid of a live runner. */
export function acquirePidFile(path: string, pid = process.pid): Acquired {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx");
      try {
        writeSync(fd, `${pid}\n`);
      } finally {
        closeSync(fd);
      }
      return { ok: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const other = readPid(path);
    if (other !== null && other !== pid && isAlive(other) && looksLikeRunner(other)) {
      return { ok: false, pid: other };
    }
    try {
      unlinkSync(path); // stale (dead pid, garbage, or our own)
    } catch {}
  }
  throw new Error(`could not create ${path}`);
}

/** Removes the pid file if it still holds our pid. */
export function releasePidFile(path: string, pid = process.pid): void {
  if (readPid(path) !== pid) return;
  try {
    unlinkSync(path);
  } catch {}
}
