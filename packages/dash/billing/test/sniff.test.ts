import { describe, expect, test } from "bun:test";
import { CLAIMS_HEAD_BYTES, encodeClaimsText, inspectClaimsHead } from "../src/index.ts";
import { dataLine, HEADER, latin1, utf8 } from "./helpers.ts";

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52];
const ZIP = [0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0x06, 0, 0x08, 0, 0, 0, 0x21, 0];

describe("inspectClaimsHead: is this delimited text?", () => {
  test("CSV in UTF-8, Windows-1252 and UTF-16 with a BOM passes", () => {
    const csv = `${HEADER}\r\n${dataLine()}\r\n`;
    expect(inspectClaimsHead(utf8(csv), true)).toBeNull();
    expect(inspectClaimsHead(latin1(csv), true)).toBeNull();
    const tabbed = `\uFEFF${csv.replaceAll(",", "\t")}`;
    expect(inspectClaimsHead(encodeClaimsText(tabbed, "utf16le"), true)).toBeNull();
    expect(inspectClaimsHead(encodeClaimsText(tabbed, "utf16be"), true)).toBeNull();
  });

  test("an empty or blank file passes (the run reports no rows)", () => {
    expect(inspectClaimsHead(new Uint8Array(0), true)).toBeNull();
    expect(inspectClaimsHead(utf8("\r\n\n"), true)).toBeNull();
    expect(inspectClaimsHead(new Uint8Array([0xff, 0xfe]), true)).toBeNull();
  });

  test("binary files: NUL bytes without a UTF-16 BOM, named when the format is known", () => {
    const png = inspectClaimsHead(new Uint8Array([...PNG, ...new Uint8Array(2000)]), false);
    expect(png).toEqual({
      kind: "binary",
      detail: expect.stringMatching(/binary.*NUL byte \(at byte 8\).*PNG/),
    });
    const zip = inspectClaimsHead(new Uint8Array(ZIP), true);
    expect(zip?.kind).toBe("binary");
    expect(zip?.detail).toMatch(/ZIP.*xlsx/);
    // UTF-16 text without its BOM is every other byte NUL: refused rather than guessed.
    const bare = inspectClaimsHead(encodeClaimsText(`${HEADER}\r\n`, "utf16le"), true);
    expect(bare?.kind).toBe("binary");
    expect(bare?.detail).toMatch(/Unicode text/);
  });

  test("a NUL past the first KiB is not looked at", () => {
    const text = `${HEADER}\r\n${dataLine()}\r\n`.repeat(10);
    const bytes = new Uint8Array([...utf8(text).subarray(0, CLAIMS_HEAD_BYTES), 0, 0]);
    expect(inspectClaimsHead(bytes, false)).toBeNull();
  });

  test("no delimiter in the first line", () => {
    const pdf = inspectClaimsHead(utf8("%PDF-1.7\n%âãÏÓ\n1 0 obj"), false);
    expect(pdf).toEqual({ kind: "no-delimiter", detail: expect.stringContaining('"%PDF-1.7"') });
    expect(inspectClaimsHead(utf8("just some words\nand, later, commas\n"), true)?.kind).toBe("no-delimiter");
    expect(inspectClaimsHead(utf8("No facture"), true)?.kind).toBe("no-delimiter");
    const long = inspectClaimsHead(utf8(`${"x".repeat(500)}\n1,2\n`), true);
    expect(long?.detail).toMatch(/"x{60}"…/);
  });

  test("a first line longer than the head is not judged; quoted line breaks do not end it", () => {
    const wide = `${HEADER},${"Remarque ".repeat(200)}\r\n`;
    expect(inspectClaimsHead(utf8(wide).subarray(0, CLAIMS_HEAD_BYTES), false)).toBeNull();
    // Not even without a delimiter in sight: past the head, the line may still have one (the size limit applies).
    expect(inspectClaimsHead(utf8("x".repeat(5000)).subarray(0, CLAIMS_HEAD_BYTES), false)).toBeNull();
    expect(inspectClaimsHead(utf8('"No\nfacture",No ligne\r\n'), true)).toBeNull();
  });
});
