/**
 * A 53-bit hash of up to four strings (cyrb53), so file rules keep one number per key instead of the key.
 * Two different keys collide with probability ~n²/2⁵⁴: about 1 in 18,000 for a million-line file.
 */
export function hash53(a: string, b: string, c: string, d = ""): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let part = 0; part < 4; part++) {
    const s = part === 0 ? a : part === 1 ? b : part === 2 ? c : d;
    for (let i = 0; i < s.length; i++) {
      const ch = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    h1 = Math.imul(h1 ^ 0x1f, 2654435761); // a separator: ("ab", "c") ≠ ("a", "bc")
    h2 = Math.imul(h2 ^ 0x1f, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0) || 1; // 0 marks an empty slot in KeyTable
}

import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A map from 53-bit hashes to unsigned 32-bit values: open addressing in two typed arrays, 12 bytes a slot,
 * at most 75% full — 16 to 32 bytes per key, a third of a Map's, and outside the garbage-collected heap.
 */
export class KeyTable {
  private keys: Float64Array;
  private values: Uint32Array;
  private count = 0;

  constructor(capacity = 1024) {
    const slots = 2 ** Math.ceil(Math.log2(Math.max(capacity, 16))); // a power of two, for the mask
    this.keys = new Float64Array(slots);
    this.values = new Uint32Array(slots);
  }

  get size(): number {
    return this.count;
  }

  get(key: number): number | undefined {
    const slot = this.find(key);
    return this.keys[slot] === key ? this.values[slot] : undefined;
  }

  /** The value already stored for `key`; else stores `value` and returns undefined. One probe. */
  getOrSet(key: number, value: number): number | undefined {
    const slot = this.find(key);
    if (this.keys[slot] === key) return this.values[slot];
    this.insertAt(slot, key, value);
    return undefined;
  }

  /** Adds `delta` to the value of `key` (0 when absent), saturating at 2³²−1; returns the new value. */
  add(key: number, delta: number): number {
    const slot = this.find(key);
    if (this.keys[slot] !== key) {
      const value = Math.min(delta, 0xffffffff);
      this.insertAt(slot, key, value);
      return value;
    }
    const value = Math.min((this.values[slot] as number) + delta, 0xffffffff);
    this.values[slot] = value;
    return value;
  }

  /** Stores `value` for `key`, replacing any value it had. */
  set(key: number, value: number): void {
    const slot = this.find(key);
    if (this.keys[slot] === key) this.values[slot] = value;
    else this.insertAt(slot, key, value);
  }

  /** Calls `fn` for every key and its value, in slot order. */
  forEach(fn: (key: number, value: number) => void): void {
    for (let i = 0; i < this.keys.length; i++) {
      const key = this.keys[i] as number;
      if (key !== 0) fn(key, this.values[i] as number);
    }
  }

  /** Empties the table, keeping its slots (so refilling it allocates nothing). */
  clear(): void {
    this.keys.fill(0);
    this.count = 0;
  }

  private insertAt(slot: number, key: number, value: number): void {
    this.keys[slot] = key;
    this.values[slot] = value;
    this.count++;
    if (this.count * 4 > this.keys.length * 3) this.grow();
  }

  private find(key: number): number {
    const mask = this.keys.length - 1;
    let slot = (key >>> 0) & mask;
    for (;;) {
      const k = this.keys[slot];
      if (k === key || k === 0) return slot;
      slot = (slot + 1) & mask;
    }
  }

  private grow(): void {
    const { keys, values } = this;
    this.keys = new Float64Array(keys.length * 2);
    this.values = new Uint32Array(keys.length * 2);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as number;
      if (key !== 0) {
        const slot = this.find(key);
        this.keys[slot] = key;
        this.values[slot] = values[i] as number;
      }
    }
  }
}

/** Keys a {@link BoundedKeyTable} holds in memory by default: 2¹⁸ slots at 75 % full, 3 MiB at most. */
export const DEFAULT_KEYS_IN_MEMORY = 196_608;

/** Bits of the filter that says which keys may have been spilled: 2 MiB, whatever the file's size. */
const SPILLED_FILTER_BITS = 2 ** 24;
/** Keys per block of a spilled run: one lookup reads one block (6 KiB). */
const BLOCK_KEYS = 512;
const BLOCK_BYTES = BLOCK_KEYS * 12;
/** Runs merged into one when there are this many, so a lookup reads at most this many blocks. */
const MAX_RUNS = 8;

/** One spill: its keys in ascending order, in blocks of keys then values, and each block's first key. */
type Run = { offset: number; count: number; fences: Float64Array };

/**
 * A {@link KeyTable} whose memory is bounded: up to `maxKeysInMemory` keys live in the typed arrays; when they
 * are full, the entries are written in key order to a temporary file (a sorted run, deleted by `close()`)
 * and the arrays are emptied for the next ones. Later runs shadow earlier ones, and memory shadows them all.
 * A fixed-size two-hash filter remembers which keys went to disk, so a new key is looked up there only when it
 * may be there (about 3 % of new keys with 1.5 million spilled); a lookup reads one block per run.
 * Same answers as a KeyTable of any size; the memory stays flat however many lines the file has.
 */
export class BoundedKeyTable {
  private readonly memory: KeyTable;
  private disk: SpillFile | undefined;

  constructor(private readonly maxKeysInMemory = DEFAULT_KEYS_IN_MEMORY) {
    this.memory = new KeyTable(Math.min(1024, Math.ceil(maxKeysInMemory / 0.75)));
  }

  /** Entries in the spill file's runs (a key in two runs counts twice). */
  get spilled(): number {
    return this.disk?.runs.reduce((sum, run) => sum + run.count, 0) ?? 0;
  }

  /** The value already stored for `key`; else stores `value` and returns undefined. */
  getOrSet(key: number, value: number): number | undefined {
    if (this.memory.size >= this.maxKeysInMemory) this.spill();
    const held = this.memory.getOrSet(key, value); // one probe for the common case: a new key
    if (held !== undefined || !this.disk) return held;
    const onDisk = this.fromDisk(key);
    if (onDisk !== undefined) this.memory.set(key, onDisk); // it was not new after all
    return onDisk;
  }

  /** Adds `delta` to the value of `key` (0 when absent), saturating at 2³²−1; returns the new value. */
  add(key: number, delta: number): number {
    if (this.memory.size >= this.maxKeysInMemory) this.spill();
    if (!this.disk || this.memory.get(key) !== undefined) return this.memory.add(key, delta);
    const value = Math.min((this.fromDisk(key) ?? 0) + delta, 0xffffffff);
    this.memory.set(key, value); // in memory from now on, which shadows the disk
    return value;
  }

  /** Deletes the spill file; the table must not be used afterwards. */
  close(): void {
    if (!this.disk) return;
    closeSync(this.disk.fd);
    rmSync(this.disk.dir, { recursive: true, force: true });
    this.disk = undefined;
  }

  private fromDisk(key: number): number | undefined {
    const disk = this.disk;
    if (!disk || !hasBits(disk.filter, key)) return undefined;
    for (let r = disk.runs.length - 1; r >= 0; r--) {
      const value = lookUp(disk, disk.runs[r] as Run, key);
      if (value !== undefined) return value;
    }
    return undefined;
  }

  private spill(): void {
    this.disk ??= openSpillFile();
    const disk = this.disk;
    const keys = new Float64Array(this.memory.size);
    let n = 0;
    this.memory.forEach((key) => {
      keys[n++] = key;
    });
    keys.sort();
    const run: Run = { offset: disk.end, count: n, fences: new Float64Array(Math.ceil(n / BLOCK_KEYS)) };
    for (let b = 0; b * BLOCK_KEYS < n; b++) {
      const from = b * BLOCK_KEYS;
      const count = Math.min(BLOCK_KEYS, n - from);
      disk.keys.fill(0);
      for (let i = 0; i < count; i++) {
        const key = keys[from + i] as number;
        disk.keys[i] = key;
        disk.values[i] = this.memory.get(key) as number;
        setBits(disk.filter, key);
      }
      run.fences[b] = keys[from] as number;
      writeSync(disk.fd, disk.block, 0, BLOCK_BYTES, disk.end);
      disk.end += BLOCK_BYTES;
    }
    disk.runs.push(run);
    this.memory.clear();
    if (disk.runs.length >= MAX_RUNS) this.disk = compact(disk);
  }
}

type SpillFile = {
  dir: string;
  fd: number;
  /** The file is runs-<generation>; each compaction writes the next one. */
  generation: number;
  end: number;
  runs: Run[];
  filter: Uint32Array;
  /** One block's bytes, reused for every write and read, and its two views. */
  block: Uint8Array;
  keys: Float64Array;
  values: Uint32Array;
};

type Block = { bytes: Uint8Array; keys: Float64Array; values: Uint32Array };

function newBlock(): Block {
  const bytes = new Uint8Array(BLOCK_BYTES);
  const keys = new Float64Array(bytes.buffer, 0, BLOCK_KEYS);
  return { bytes, keys, values: new Uint32Array(bytes.buffer, BLOCK_KEYS * 8, BLOCK_KEYS) };
}

function openSpillFile(
  filter: Uint32Array = new Uint32Array(SPILLED_FILTER_BITS / 32),
  dir = mkdtempSync(join(tmpdir(), "fig-billing-keys-")),
  generation = 0,
): SpillFile {
  const { bytes, keys, values } = newBlock();
  const fd = openSync(join(dir, `runs-${generation}`), "w+");
  return { dir, fd, generation, end: 0, runs: [], filter, block: bytes, keys, values };
}

/**
 * Merges every run into one, in a new file (the old one is deleted): a k-way merge reading each run's blocks
 * in order. Where runs share a key, the newest run's value wins, as in a lookup.
 */
function compact(disk: SpillFile): SpillFile {
  const out = openSpillFile(disk.filter, disk.dir, disk.generation + 1);
  const cursors = disk.runs.map((run) => ({ run, block: newBlock(), b: -1, i: BLOCK_KEYS, count: 0 }));
  type Cursor = (typeof cursors)[number];
  const current = (c: Cursor): number | undefined => {
    if (c.i >= c.count) {
      c.b++;
      if (c.b * BLOCK_KEYS >= c.run.count) return undefined;
      readSync(disk.fd, c.block.bytes, 0, BLOCK_BYTES, c.run.offset + c.b * BLOCK_BYTES);
      c.count = Math.min(BLOCK_KEYS, c.run.count - c.b * BLOCK_KEYS);
      c.i = 0;
    }
    return c.block.keys[c.i];
  };
  const total = disk.runs.reduce((sum, run) => sum + run.count, 0);
  const run: Run = { offset: 0, count: 0, fences: new Float64Array(Math.ceil(total / BLOCK_KEYS)) };
  let filled = 0;
  const flush = () => {
    out.keys.fill(0, filled);
    writeSync(out.fd, out.block, 0, BLOCK_BYTES, out.end);
    out.end += BLOCK_BYTES;
    filled = 0;
  };
  for (;;) {
    let key = Number.POSITIVE_INFINITY;
    let value = 0;
    for (const c of cursors) {
      const k = current(c);
      if (k === undefined || k > key) continue;
      if (k < key) key = k;
      value = c.block.values[c.i] as number; // later cursors are newer runs: the last equal key wins
    }
    if (key === Number.POSITIVE_INFINITY) break;
    for (const c of cursors) if (current(c) === key) c.i++;
    if (filled === 0) run.fences[run.count / BLOCK_KEYS] = key;
    out.keys[filled] = key;
    out.values[filled] = value;
    filled++;
    run.count++;
    if (filled === BLOCK_KEYS) flush();
  }
  if (filled > 0) flush();
  run.fences = run.fences.subarray(0, Math.ceil(run.count / BLOCK_KEYS));
  out.runs.push(run);
  closeSync(disk.fd);
  rmSync(join(disk.dir, `runs-${disk.generation}`), { force: true });
  return out;
}

/** Binary search for the block that may hold `key`, one read, then binary search inside it. */
function lookUp(disk: SpillFile, run: Run, key: number): number | undefined {
  const { fences } = run;
  if (key < (fences[0] as number)) return undefined;
  let lo = 0;
  let hi = fences.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((fences[mid] as number) <= key) lo = mid;
    else hi = mid - 1;
  }
  readSync(disk.fd, disk.block, 0, BLOCK_BYTES, run.offset + lo * BLOCK_BYTES);
  const count = Math.min(BLOCK_KEYS, run.count - lo * BLOCK_KEYS);
  let a = 0;
  let z = count - 1;
  while (a <= z) {
    const mid = (a + z) >>> 1;
    const k = disk.keys[mid] as number;
    if (k === key) return disk.values[mid];
    if (k < key) a = mid + 1;
    else z = mid - 1;
  }
  return undefined;
}

/** Two bit positions per key: its low 24 bits, and a mix of its high bits. */
const firstBit = (key: number) => (key >>> 0) & (SPILLED_FILTER_BITS - 1);
const secondBit = (key: number) =>
  (Math.imul(Math.floor(key / 4294967296) ^ (key >>> 24), 0x9e3779b1) >>> 8) & (SPILLED_FILTER_BITS - 1);

function setBits(filter: Uint32Array, key: number): void {
  const a = firstBit(key);
  const b = secondBit(key);
  filter[a >>> 5] = (filter[a >>> 5] as number) | (1 << (a & 31));
  filter[b >>> 5] = (filter[b >>> 5] as number) | (1 << (b & 31));
}

function hasBits(filter: Uint32Array, key: number): boolean {
  const a = firstBit(key);
  const b = secondBit(key);
  return (
    ((filter[a >>> 5] as number) & (1 << (a & 31))) !== 0 &&
    ((filter[b >>> 5] as number) & (1 << (b & 31))) !== 0
  );
}
