/**
 * The images without a Docker engine: each Dockerfile (and the scaffold's, rendered for a new service) is
 * simulated in a temporary folder, one folder per stage. Its COPY steps copy from the build context as
 * BuildKit would (`.dockerignore`, globs, `--parents`, `--from=<stage>`), and the RUN steps of its build stages
 * run there with this bun: the frozen, filtered install of the pruned workspace, then the bundle. The runtime
 * stage's copies must find their files and its CMD its bundle. compose.yaml builds exactly these Dockerfiles.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { workspaceFolders } from "../dev-runner/discover.ts";
import { deriveNames } from "../new-service/names.ts";
import { renderTemplates } from "../new-service/render.ts";
import { expectExit, run } from "./lib/repo-copy.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const STEP_MS = 300_000;

type Instruction = { keyword: string; args: string };
type Stage = { name: string; instructions: Instruction[] };

/** A Dockerfile's stages: continuation lines joined, comments and parser directives dropped. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  let pending = "";
  for (const line of text.split("\n")) {
    if (/^\s*#/.test(line)) continue;
    const joined = `${pending}${line}`;
    if (/\\\s*$/.test(joined)) {
      pending = joined.replace(/\\\s*$/, " ");
      continue;
    }
    pending = "";
    const match = /^\s*(\w+)\s+(.*?)\s*$/.exec(joined);
    if (!match) continue;
    const keyword = (match[1] as string).toUpperCase();
    const args = match[2] as string;
    if (keyword === "FROM") {
      const as = /\s+AS\s+(\S+)$/i.exec(args);
      stages.push({ name: as?.[1] ?? String(stages.length), instructions: [] });
    } else if (keyword !== "ARG" || stages.length > 0) {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${keyword} before the first FROM`);
      stage.instructions.push({ keyword, args });
    }
  }
  return stages;
}

type Copy = { from?: string; parents: boolean; sources: string[]; dest: string };

/** `COPY [--from=<stage>] [--parents] <src>... <dest>` (shell form; flags it does not model are refused). */
export function parseCopy(args: string): Copy {
  if (args.startsWith("[")) throw new Error(`COPY's JSON form is not simulated: ${args}`);
  const words = args.split(/\s+/);
  const copy: Copy = { parents: false, sources: [], dest: "" };
  while (words[0]?.startsWith("--")) {
    const flag = words.shift() as string;
    if (flag === "--parents") copy.parents = true;
    else if (flag.startsWith("--from=")) copy.from = flag.slice("--from=".length);
    else if (!/^--(chown|chmod|link)(=|$)/.test(flag)) throw new Error(`COPY ${flag} is not simulated`);
  }
  if (words.length < 2) throw new Error(`COPY needs a source and a destination: ${args}`);
  copy.dest = words.pop() as string;
  copy.sources = words;
  return copy;
}

/** Whether the build context leaves `path` out: a `.dockerignore` pattern matches it or a folder above it. */
function ignoredBy(patterns: Bun.Glob[]) {
  return (path: string) => {
    const parts = path.split("/");
    return parts.some((_, i) => {
      const prefix = parts.slice(0, i + 1).join("/");
      return patterns.some((glob) => glob.match(prefix));
    });
  };
}

function dockerignore(context: string): (path: string) => boolean {
  const file = join(context, ".dockerignore");
  const lines = existsSync(file) ? readFileSync(file, "utf8").split("\n") : [];
  const patterns = lines.map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  if (patterns.some((p) => p.startsWith("!"))) throw new Error(".dockerignore exceptions are not simulated");
  return ignoredBy(patterns.map((p) => new Bun.Glob(p.replace(/^\.?\//, ""))));
}

/** What a simulated build did: each stage's folder (its filesystem root). */
type Simulation = { stages: Map<string, string>; runs: { stage: string; command: string }[] };

/**
 * Builds `dockerfile` against `context` in `work`: every stage's COPY steps, and the RUN steps of every stage
 * but the last (the runtime's are not build steps here; it has none). A failing RUN throws with its output.
 */
async function simulate(dockerfile: string, context: string, work: string): Promise<Simulation> {
  const ignored = dockerignore(context);
  const stages = parseDockerfile(dockerfile);
  const simulation: Simulation = { stages: new Map(), runs: [] };
  for (const [index, stage] of stages.entries()) {
    const fsRoot = join(work, `stage-${index}-${stage.name}`);
    mkdirSync(fsRoot, { recursive: true });
    simulation.stages.set(stage.name, fsRoot);
    let workdir = "/";
    const inside = (path: string) => join(fsRoot, path.startsWith("/") ? path : join(workdir, path));
    for (const { keyword, args } of stage.instructions) {
      if (keyword === "WORKDIR") {
        workdir = args.startsWith("/") ? args : join(workdir, args);
        mkdirSync(inside("."), { recursive: true });
      } else if (keyword === "COPY") {
        copyStep(parseCopy(args), { context, ignored, simulation, inside });
      } else if (keyword === "RUN" && index < stages.length - 1) {
        const command = args.startsWith("[") ? (JSON.parse(args) as string[]).join(" ") : args;
        const result = await run(["sh", "-c", command], inside("."), {
          PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
        });
        if (result.code !== 0)
          throw new Error(
            `stage ${stage.name}: RUN ${command} exited ${result.code}:\n${`${result.stdout}\n${result.stderr}`.trim().slice(-3000)}`,
          );
        simulation.runs.push({ stage: stage.name, command });
      } else if (keyword === "RUN") {
        throw new Error(`the runtime stage runs ${args} at build time: not simulated`);
      }
    }
  }
  return simulation;
}

function copyStep(
  copy: Copy,
  at: {
    context: string;
    ignored: (path: string) => boolean;
    simulation: Simulation;
    inside: (path: string) => string;
  },
) {
  const dest = at.inside(copy.dest);
  if (copy.from) {
    // From an earlier stage: its files but node_modules (hundreds of MB; the runtime's CMD runs the bundle).
    const fromRoot = at.simulation.stages.get(copy.from);
    if (!fromRoot) throw new Error(`COPY --from=${copy.from}: no earlier stage of that name`);
    for (const source of copy.sources) {
      const path = join(fromRoot, source);
      if (!existsSync(path)) throw new Error(`COPY --from=${copy.from} ${source}: not in that stage`);
      place(path, statSync(path).isDirectory() ? dest : join(dest, basename(source)), (p) =>
        p.split("/").includes("node_modules"),
      );
    }
    return;
  }
  const many = copy.sources.length > 1 || copy.sources.some((s) => /[*?[]/.test(s));
  if (many && !copy.dest.endsWith("/"))
    throw new Error(`COPY with several sources needs a destination ending in /: ${copy.dest}`);
  for (const source of copy.sources) {
    const pattern = source.replace(/^\.\//, "").replace(/\/+$/, "");
    const matches = /[*?[]/.test(pattern)
      ? [...new Bun.Glob(pattern).scanSync({ cwd: at.context, onlyFiles: false, dot: true })]
      : existsSync(join(at.context, pattern))
        ? [pattern]
        : [];
    const kept = matches.filter((m) => !at.ignored(m)).sort();
    // BuildKit: a plain source that is missing fails the build; --parents treats every source as a pattern.
    if (kept.length === 0 && !copy.parents && !/[*?[]/.test(pattern))
      throw new Error(`COPY ${source}: not in the build context`);
    for (const match of kept) {
      const from = join(at.context, match);
      const isDir = statSync(from).isDirectory();
      const target = copy.parents
        ? join(dest, match)
        : isDir
          ? dest
          : many || copy.dest.endsWith("/")
            ? join(dest, basename(match))
            : dest;
      place(from, target, (p) => at.ignored(relative(at.context, p)));
    }
  }
}

function place(from: string, to: string, skip: (path: string) => boolean) {
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, to, { recursive: true, filter: (p) => !skip(p), verbatimSymlinks: true });
}

/** Every package.json under `dir` outside node_modules, relative to it. */
function manifestsUnder(dir: string): string[] {
  return [...new Bun.Glob("**/package.json").scanSync({ cwd: dir })]
    .filter((p) => !p.split("/").includes("node_modules"))
    .sort();
}

const workspaceManifests = (root: string) =>
  workspaceFolders(root)
    .map((dir) => `${relative(root, dir)}/package.json`)
    .sort();

/** The runtime stage's CMD, exec form: the file it runs (["bun", "<file>", ...]). */
function commandFile(stages: Stage[]): string {
  const cmd = stages.at(-1)?.instructions.findLast((i) => i.keyword === "CMD");
  const argv = cmd ? (JSON.parse(cmd.args) as string[]) : [];
  if (argv[0] !== "bun" || !argv[1]) throw new Error(`the runtime stage's CMD is not ["bun", <file>]`);
  return argv[1];
}

/** Asserts what a finished simulation shows: the installs and the bundle ran; the runtime finds its files. */
function expectImage(dockerfile: string, simulation: Simulation, root: string, service: string) {
  const stages = parseDockerfile(dockerfile);
  const [deps, build] = [simulation.stages.get("deps"), simulation.stages.get("build")];
  if (!deps || !build) throw new Error("expected the stages deps and build");
  const name = JSON.parse(readFileSync(join(root, service, "package.json"), "utf8")).name as string;
  expect(simulation.runs).toEqual([
    { stage: "deps", command: `bun install --frozen-lockfile --production --filter ${name}` },
    { stage: "build", command: `bun install --frozen-lockfile --filter ${name}` },
    { stage: "build", command: `bun scripts/build.ts --service ${basename(service)}` },
  ]);
  // Both installs saw every workspace's manifest (a new workspace glob must reach the Dockerfiles too).
  for (const stage of [deps, build])
    expect(manifestsUnder(join(stage, "app"))).toEqual(
      expect.arrayContaining(["package.json", ...workspaceManifests(root)]),
    );
  expect(existsSync(join(deps, "app", service, "node_modules"))).toBe(true);
  const runtime = simulation.stages.get(stages.at(-1)?.name ?? "") as string;
  expect(existsSync(join(runtime, "app", commandFile(stages)))).toBe(true);
}

const work = await mkdtemp(join(tmpdir(), "fig-dockerfiles-"));
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Every Dockerfile under services/ (node_modules links to workspaces left out). */
const dockerfiles = [...new Bun.Glob("services/**/Dockerfile").scanSync({ cwd: ROOT })]
  .filter((p) => !p.split("/").includes("node_modules"))
  .sort();

describe("the simulation", () => {
  test("continuations are joined, comments dropped, stages named; COPY's flags, sources and destination", () => {
    const stages = parseDockerfile(
      '# syntax=docker/dockerfile:1.20\nARG X=1\nFROM a AS deps\nWORKDIR /app\n# note\nRUN one \\\n  two\nFROM b\nCMD ["bun", "x.js"]\n',
    );
    expect(stages).toEqual([
      {
        name: "deps",
        instructions: [
          { keyword: "WORKDIR", args: "/app" },
          { keyword: "RUN", args: "one    two" },
        ],
      },
      { name: "1", instructions: [{ keyword: "CMD", args: '["bun", "x.js"]' }] },
    ]);
    expect(parseCopy("--parents a/*/package.json b ./")).toEqual({
      parents: true,
      sources: ["a/*/package.json", "b"],
      dest: "./",
    });
    expect(parseCopy("--from=build /app/dist ./dist")).toMatchObject({
      from: "build",
      sources: ["/app/dist"],
    });
    expect(() => parseCopy("--exclude=x a ./")).toThrow("COPY --exclude=x is not simulated");
    expect(() => parseCopy("a")).toThrow("needs a source and a destination");
  });

  test("a pruned install fails when a kept workspace devDepends on one left out, and passes with every manifest", async () => {
    // A workspace of two: a's tests use b (a devDependency), as the gateway's use the audit service.
    const context = join(work, "two-workspaces");
    const manifests = {
      "package.json": { name: "root", private: true, workspaces: ["a", "b"] },
      "a/package.json": { name: "a", devDependencies: { b: "workspace:*" } },
      "b/package.json": { name: "b" },
    };
    for (const [path, manifest] of Object.entries(manifests)) {
      mkdirSync(dirname(join(context, path)), { recursive: true });
      writeFileSync(join(context, path), JSON.stringify(manifest));
    }
    expectExit(await run([process.execPath, "install"], context), 0);
    const image = (copied: string) =>
      `FROM x AS deps\nWORKDIR /app\nCOPY package.json bun.lock ./\nCOPY --parents ${copied} ./\nRUN bun install --frozen-lockfile --production --filter a\nFROM x\n`;
    await expect(simulate(image("a/package.json"), context, join(work, "pruned-a"))).rejects.toThrow(
      'depends on workspace "b"',
    );
    const whole = await simulate(image("*/package.json"), context, join(work, "pruned-all"));
    expect(whole.runs).toHaveLength(1);
  });
});

describe("compose.yaml", () => {
  test("builds from the repository root with each service's Dockerfile, and every Dockerfile has a service", () => {
    const compose = Bun.YAML.parse(readFileSync(join(ROOT, "compose.yaml"), "utf8")) as {
      services: Record<string, { build?: { context: string; dockerfile: string } }>;
    };
    const built = Object.values(compose.services).flatMap((s) => (s.build ? [s.build] : []));
    for (const build of built) {
      expect(build.context).toBe(".");
      expect(existsSync(join(ROOT, build.dockerfile))).toBe(true);
    }
    expect([...new Set(built.map((b) => b.dockerfile))].sort()).toEqual(dockerfiles);
  });
});

describe.each(dockerfiles)("%s", (path) => {
  test(
    "its stages install and bundle from only what they copy; the runtime stage finds its files and its CMD",
    async () => {
      const text = readFileSync(join(ROOT, path), "utf8");
      expect(text.split("\n")[0]).toMatch(/^# syntax=docker\/dockerfile:1\.(2\d|[3-9]\d)/);
      const simulation = await simulate(text, ROOT, join(work, path.replaceAll("/", "_")));
      expectImage(text, simulation, ROOT, dirname(path));
    },
    STEP_MS,
  );
});

describe("the scaffold's Dockerfile, rendered for a new service", () => {
  test(
    "installs and bundles from only what it copies, in a repository with the service added",
    async () => {
      // The build context: the repository's files as git sees them, plus the new service and its lockfile entry.
      const context = join(work, "scaffold-context");
      mkdirSync(context);
      const files = await run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT);
      expectExit(files, 0);
      for (const file of files.stdout.split("\0").filter((f) => f && existsSync(join(ROOT, f)))) {
        mkdirSync(dirname(join(context, file)), { recursive: true });
        cpSync(join(ROOT, file), join(context, file), { verbatimSymlinks: true });
      }
      const names = deriveNames("case-notes", "notes");
      const values = { ...names, port: "8099", state: "db", testState: "tdb.db" };
      for (const file of renderTemplates(values, { db: true })) {
        mkdirSync(dirname(join(context, file.path)), { recursive: true });
        writeFileSync(join(context, file.path), file.text);
      }
      // Its manifest as the scaffold writes one with a database (packageJson in scripts/new-service/scaffold.ts).
      const workspace = "workspace:*";
      writeFileSync(
        join(context, "services/case-notes/package.json"),
        JSON.stringify({
          name: "@fig/case-notes",
          private: true,
          type: "module",
          exports: { ".": "./src/app.ts" },
          fig: { port: 8099 },
          dependencies: {
            ...Object.fromEntries(
              ["auth", "bootstrap", "datasync", "db", "events", "service"].map((p) => [
                `@fig/${p}`,
                workspace,
              ]),
            ),
            "@hono/zod-openapi": "^1.6.3",
            "@opentelemetry/api": "^1.10.0",
            "drizzle-orm": "^0.45.4",
            hono: "^4.13.19",
            "prom-client": "^15.1.3",
            zod: "^4.6.7",
          },
          devDependencies: { "@fig/testing": workspace, "drizzle-kit": "^0.31.11" },
        }),
      );
      mkdirSync(join(context, "services/case-notes/drizzle"));
      expectExit(await run([process.execPath, "install", "--lockfile-only"], context), 0);

      const text = readFileSync(join(context, "services/case-notes/Dockerfile"), "utf8");
      const simulation = await simulate(text, context, join(work, "scaffold"));
      expectImage(text, simulation, context, "services/case-notes");
    },
    STEP_MS,
  );
});
