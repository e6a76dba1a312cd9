import { describe, expect, test } from "bun:test";
import { type CsvDelimiter, CsvRecords, type CsvRow } from "../src/csv.ts";

// The fast path (quote-free lines split here) against csv-parse alone (`fastPath: false`, the reader as it was):
// same records, line numbers and errors for every input and every way of cutting it into chunks.

type Setup = { delimiter?: CsvDelimiter; max?: number };

async function read(
  texts: string[],
  fastPath: boolean,
  { delimiter = ",", max = 1 << 20 }: Setup,
): Promise<CsvRow[]> {
  const records = new CsvRecords(delimiter, max, { fastPath });
  const rows: CsvRow[] = [];
  for (const text of texts) rows.push(...(await records.push(text)));
  rows.push(...(await records.end()));
  return rows;
}

/** The text of `bytes` cut at `cuts` (byte offsets), decoded as the reader's input is (streaming UTF-8). */
function decodeAt(bytes: Uint8Array, cuts: number[]): string[] {
  const decoder = new TextDecoder("utf-8");
  const texts: string[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    texts.push(decoder.decode(bytes.subarray(from, cut), { stream: true }));
    from = cut;
  }
  texts.push(decoder.decode());
  return texts.filter((t) => t !== "");
}

async function expectSame(texts: string[], setup: Setup = {}, what = ""): Promise<CsvRow[]> {
  const slow = await read(texts, false, setup);
  const fast = await read(texts, true, setup);
  if (!Bun.deepEquals(fast, slow)) {
    // Names the input in the failure.
    expect({ what, texts, rows: fast }).toEqual({ what, texts, rows: slow });
  }
  return fast;
}

/** Whole, cut at every byte offset, and one byte at a time. */
async function expectSameAllCuts(csv: string, setup: Setup = {}): Promise<CsvRow[]> {
  const bytes = new TextEncoder().encode(csv);
  const whole = await expectSame([csv], setup, "whole");
  for (let cut = 1; cut < bytes.length; cut++)
    await expectSame(decodeAt(bytes, [cut]), setup, `cut at ${cut}`);
  const everyByte = Array.from({ length: Math.max(bytes.length - 1, 0) }, (_, i) => i + 1);
  await expectSame(decodeAt(bytes, everyByte), setup, "byte by byte");
  // Code unit by code unit too (without splitting a surrogate pair).
  await expectSame(Array.from(csv), setup, "char by char");
  return whole;
}

const CASES: [string, string, Setup?][] = [
  ["plain", "a,b,c\n1,2,3\n"],
  ["no trailing line break", "a,b,c\n1,2,3"],
  ["quoted fields", 'a,"b",c\n"1","2","3"\n'],
  ["escaped quotes", 'a,"say ""hi""",c\n"""",x,""\n'],
  ["delimiter inside quotes", 'a,"b,c",d\n1,"2,,3",4\n'],
  ["line breaks inside quotes", 'a,"b\nc",d\ne,"f\r\ng\rh",i\nj,k,l\n'],
  ["CRLF", "a,b\r\nc,d\r\n\r\ne,f\r\n"],
  ["lone CR", "a,b\rc,d\r\re,f\r"],
  ["mixed line ends", "a,b\r\nc,d\ne,f\rg,h"],
  ["BOM at the start", "\uFEFFa,b\n1,2\n"],
  ["BOM before a quote", '\uFEFF"a",b\n1,2\n'],
  ["empty lines", "\n\na,b\n\n\nc,d\n\n"],
  ["only line breaks", "\n\r\n\r\n"],
  ["empty input", ""],
  ["trailing delimiter", "a,b,\n1,2,\n,,\n"],
  ["empty fields", ",\n,,\na,,b\n"],
  ["spaces are fields", " \na, b \n  ,\n"],
  ["unicode and emoji", 'é,ü,😀\n"😀,é",日本\n👩‍👩‍👧,x\n'],
  ["semicolon delimiter", 'a;b,c;"d;e"\n1;2;3\n', { delimiter: ";" }],
  ["tab delimiter", 'a\tb\t"c\td"\n1\t\t3\n', { delimiter: "\t" }],
  ["quote inside an unquoted field", 'a,b"c,d\ne,f\n'],
  ["character after a closing quote", 'a,"b"x,c\nd,e\n'],
  ["closing quote fault on a later line", 'a,"b\nc"x,d\ne,f\n'],
  ["unterminated quote", 'a,b\nc,"d\ne,f\n'],
  ["quote opened after a fault", 'a,"b"x,"\n"\nc,d\n'],
  ["fault then blank lines", 'a,"b"x\n\n\nc,d\n'],
  ["quoted then blank lines", '"a",b\n\n\nc,d\n'],
  ["quoted line ending in CR then LF", '"a",b\r\nc,d\r\n'],
  ["quoted line ending in a lone CR", '"a",b\rc,d\r"e"\r'],
  ["record too long", "abcdefghijklmnop,q\nr,s\n", { max: 8 }],
  ["quoted record too long", '"abcdefghijklmnop",q\nr,s\n', { max: 8 }],
  ["record just under the limit", "abcdefg\nabcdefgh\nabcdefghi\n", { max: 8 }],
  ["runs of quoted lines", '"a",b\n"c",d\n"e",f\ng,h\n"i",j\nk,l\n'],
];

describe("the fast path reads as csv-parse does", () => {
  for (const [name, csv, setup] of CASES) {
    test(name, async () => {
      await expectSameAllCuts(csv, setup);
    });
  }

  test("a sample of what both read (the comparison has something to compare)", async () => {
    expect(await expectSameAllCuts('a,"b,c"\r\n\r\nd,"e\nf"\n,\n')).toEqual([
      { line: 1, fields: ["a", "b,c"], error: null },
      { line: 3, fields: ["d", "e\nf"], error: null },
      { line: 5, fields: ["", ""], error: null },
    ]);
    expect(await expectSameAllCuts('x,y\na,b"c\nd,e\n')).toEqual([
      { line: 1, fields: ["x", "y"], error: null },
      {
        line: 2,
        fields: [],
        error: "a quote inside an unquoted field (quote the whole field and double its quotes)",
      },
      { line: 3, fields: ["d", "e"], error: null },
    ]);
  });

  test("very long lines, quoted and not, across chunk boundaries", async () => {
    const long = "x".repeat(200_000);
    const csv = `${long},${long}\n"${long}",a\nb,"${long}\n${long}"\n${long}é😀\n`;
    const bytes = new TextEncoder().encode(csv);
    for (const size of [1, 4096, 65_536, 1 << 20]) {
      const cuts = Array.from({ length: Math.ceil(bytes.length / size) - 1 }, (_, i) => (i + 1) * size);
      const texts =
        size === 1
          ? decodeAt(
              bytes,
              cuts.filter((c) => c % 997 === 0),
            )
          : decodeAt(bytes, cuts);
      await expectSame(texts, {}, `chunks of ${size}`);
      await expectSame(texts, { max: 250_000 }, `chunks of ${size}, limit 250,000`);
    }
  });

  test("many lines between quoted ones (split rows held, then let out) in chunks of every size", async () => {
    const random = mulberry32(4);
    const lines: string[] = [];
    for (let n = 0; n < 6000; n++) {
      const r = random();
      // Long quote-free runs (more than the 1,024 rows held back), short ones, quoted and broken lines.
      const run = r < 0.02 ? 1500 : r < 0.5 ? 0 : Math.floor(random() * 30);
      for (let k = 0; k < run && lines.length < 6000; k++) lines.push(`${n},${k},é`);
      const q = random();
      lines.push(
        q < 0.7
          ? `"${n}","a;""b""",c`
          : q < 0.8
            ? `"${n}\nx",d`
            : q < 0.9
              ? `${n}",e`
              : q < 0.95
                ? ""
                : `"${n}"x`,
      );
    }
    const csv = `${lines.join(random() < 0.5 ? "\n" : "\r\n")}\n`;
    const bytes = new TextEncoder().encode(csv);
    for (const size of [7, 100, 4096, 65_536]) {
      const cuts = Array.from({ length: Math.ceil(bytes.length / size) - 1 }, (_, i) => (i + 1) * size);
      const rows = await expectSame(decodeAt(bytes, cuts), {}, `chunks of ${size}`);
      expect(rows.length).toBeGreaterThan(6000);
    }
  });

  test("lone surrogates read as TextEncoder writes them", async () => {
    await expectSame(["a,\uD83D", "\uDE00b\nc,d\n"]);
    await expectSame(['"a\uD83D', '\uDE00",b\nc\uDC00,d\n']);
  });

  test("seeded random CSVs, valid and broken, in random chunks", async () => {
    const random = mulberry32(18);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const BREAKS = ["\n", "\r\n", "\r"];
    const PLAIN = ["a", "bc", "é", "😀", " ", "1,5", "x;y", "t\tu"];
    const field = (delimiter: string): string => {
      const r = random();
      if (r < 0.15) return "";
      if (r < 0.6) {
        let s = "";
        for (let n = Math.floor(random() * 4); n > 0; n--) s += pick(PLAIN);
        return s.split(delimiter).join("");
      }
      if (r < 0.95) {
        let s = "";
        for (let n = Math.floor(random() * 4); n > 0; n--) s += pick([...PLAIN, '""', delimiter, ...BREAKS]);
        return `"${s}"`;
      }
      return pick(['a"b', '"a"b', '"a', '"', 'a"']); // broken
    };
    for (let file = 0; file < 400; file++) {
      const delimiter = pick([",", ";", "\t"] as const);
      let csv = random() < 0.1 ? "\uFEFF" : "";
      for (let lines = Math.floor(random() * 12); lines > 0; lines--) {
        if (random() < 0.1) csv += pick(BREAKS); // a blank line
        const cells = Array.from({ length: 1 + Math.floor(random() * 5) }, () => field(delimiter));
        csv += cells.join(delimiter) + (random() < 0.9 ? pick(BREAKS) : "");
      }
      const setup: Setup = { delimiter, max: random() < 0.2 ? 4 + Math.floor(random() * 20) : 1 << 20 };
      const bytes = new TextEncoder().encode(csv);
      const cuts: number[] = [];
      for (let at = 1 + Math.floor(random() * 8); at < bytes.length; at += 1 + Math.floor(random() * 8))
        cuts.push(at);
      await expectSame([csv], setup, `file ${file} whole`);
      await expectSame(decodeAt(bytes, cuts), setup, `file ${file} in chunks`);
      if (file % 20 === 0) await expectSameAllCuts(csv, setup);
    }
  });
});

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
