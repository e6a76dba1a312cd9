import { describe, expect, test } from "bun:test";
import {
  type ClaimsHeader,
  ClaimsHeaderError,
  type ParsedLine,
  parseClaims,
  streamClaims,
} from "../src/index.ts";
import { byteStream, dataLine, HEADER, latin1, parseAll, seedReference, utf8 } from "./helpers.ts";

const summary = (lines: ParsedLine[]) =>
  lines.map((l) => ({ line: l.line, ok: l.record !== null, findings: l.findings.map((f) => f.message) }));

describe("a clean file", () => {
  test("reads every column into its canonical field and type", async () => {
    const csv = `${HEADER}\n${dataLine({ 8: "AM URG", 9: "2", 10: "125.80", 12: "1765432" })}\n`;
    const [line] = await parseAll(csv);
    expect(line).toEqual({
      line: 2,
      findings: [],
      record: {
        invoice_number: "1000001",
        line_number: 1,
        patient_nam: "TREM85062512",
        patient_birth_date: "1985-06-25",
        physician_number: "1234567",
        establishment_number: "00683",
        service_date: "2025-05-20",
        billing_code: "00103",
        context_codes: ["AM", "URG"],
        units: 2,
        amount_cents: 12580,
        diagnosis_code: "401",
        referring_physician: "1765432",
        start_time: "09:00",
        end_time: "09:20",
        submission_date: "2025-05-25",
      },
    });
  });

  test("converts dollar amounts to exact cents", async () => {
    const amounts = ["4.35", "0.29", "1.1", '"86,50"', '"1 234,56"', "-12", "1234567.89", "$19.99"];
    const csv = [HEADER, ...amounts.map((a) => dataLine({ 10: a }))].join("\n");
    expect((await parseAll(csv)).map((l) => l.record?.amount_cents)).toEqual([
      435, 29, 110, 8650, 123456, -1200, 123456789, 1999,
    ]);
  });

  test("normalizes dates, times, NAM spacing and context lists", async () => {
    const csv = `${HEADER}\n${dataLine({ 2: "trem 8506 2512", 6: "2025/05/20", 8: '"am;urg"', 13: "8h05", 14: "0930", 15: "20250525" })}`;
    const [line] = await parseAll(csv);
    expect(line?.record).toMatchObject({
      patient_nam: "TREM85062512",
      service_date: "2025-05-20",
      context_codes: ["AM", "URG"],
      start_time: "08:05",
      end_time: "09:30",
      submission_date: "2025-05-25",
    });
  });
});

describe("encodings", () => {
  const withNotes = `${HEADER},Remarque\n${dataLine({ 11: "Fièvre à l’urgence" })},Évalué — côté\n`;

  test("Windows-1252 / Latin-1 bytes (0xE9 …) decode to accented text", async () => {
    const cp1252 = latin1(withNotes.replace("’", "\u0092").replace("—", "\u0097")); // ’ and — are 0x92, 0x97
    expect(cp1252.includes(0xe9)).toBe(true);
    let header: ClaimsHeader | undefined;
    const lines = await parseAll(cp1252, {
      onHeader: (h) => {
        header = h;
      },
    });
    expect(lines[0]?.record?.diagnosis_code).toBe("Fièvre à l’urgence");
    expect(header?.ignored).toEqual(["Remarque"]);
    expect(header?.columns.at(5)).toBe("establishment_number");
  });

  test("UTF-8 with a BOM", async () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(withNotes)]);
    const lines = await parseAll(bytes);
    expect(lines[0]?.record?.invoice_number).toBe("1000001");
    expect(lines[0]?.record?.diagnosis_code).toBe("Fièvre à l’urgence");
  });

  test("Latin-1 decided late: ASCII header, first accent deep in the file", async () => {
    const ascii =
      "invoice_number,line_number,patient_nam,patient_birth_date,physician_number,establishment_number,service_date,billing_code,amount_cents,submission_date,diagnosis_code";
    const row = (diagnosis: string) =>
      `1000001,1,TREM85062512,1985-06-25,1234567,00683,2025-05-20,00103,62.90,2025-05-25,${diagnosis}`;
    const csv = [ascii, ...Array.from({ length: 50 }, () => row("401")), row("Fébrile")].join("\r\n");
    const lines = await parseAll(latin1(csv), { chunkSize: 100 });
    expect(lines).toHaveLength(51);
    expect(lines.at(-1)?.record?.diagnosis_code).toBe("Fébrile");
    expect(lines[0]?.record?.units).toBe(1); // optional column absent: one unit
  });
});

describe("CSV structure", () => {
  test("quoted fields hold delimiters, doubled quotes and line breaks; lines are physical", async () => {
    const csv = [
      HEADER,
      dataLine({ 11: '"Toux, ""sèche""\nfièvre"' }),
      dataLine({ 0: "1000002", 11: '"a\r\nb\nc"' }),
      dataLine({ 0: "1000003" }),
    ].join("\n");
    const lines = await parseAll(csv);
    expect(lines.map((l) => [l.line, l.record?.diagnosis_code])).toEqual([
      [2, 'Toux, "sèche"\nfièvre'],
      [4, "a\r\nb\nc"],
      [7, "401"],
    ]);
  });

  test("CRLF and LF give the same records", async () => {
    const lf = [HEADER, dataLine(), dataLine({ 0: "2" })].join("\n");
    expect(await parseAll(lf.replaceAll("\n", "\r\n"))).toEqual(await parseAll(lf));
  });

  test("a semicolon-delimited export with decimal commas", async () => {
    const header = HEADER.replaceAll(",", ";");
    const row =
      '1000001;1;TREM85062512;1985-06-25;1234567;00683;2025-05-20;00103;"AM;URG";1;86,50;Toux, fièvre;;;;2025-05-25';
    const csv = `${header}\n${row}`;
    const [line] = await parseAll(csv);
    expect(line?.record).toMatchObject({
      amount_cents: 8650,
      context_codes: ["AM", "URG"],
      diagnosis_code: "Toux, fièvre",
      referring_physician: null,
    });
  });

  test("blank lines and delimiter-only lines are skipped but counted", async () => {
    const csv = [HEADER, "", dataLine(), ",,,,,,,,,,,,,,,", "", dataLine({ 0: "2" }), ""].join("\n");
    expect((await parseAll(csv)).map((l) => l.line)).toEqual([3, 6]);
  });
});

describe("malformed lines become findings, never a failed file", () => {
  test("ragged rows", async () => {
    const csv = [
      HEADER,
      dataLine(),
      `${dataLine()},extra`,
      "1000003,1,TREM85062512",
      dataLine({ 0: "4" }),
    ].join("\n");
    const lines = await parseAll(csv);
    expect(summary(lines)).toEqual([
      { line: 2, ok: true, findings: [] },
      { line: 3, ok: false, findings: ["Expected 16 fields (as in the header), found 17."] },
      { line: 4, ok: false, findings: ["Expected 16 fields (as in the header), found 3."] },
      { line: 5, ok: true, findings: [] },
    ]);
    expect(lines[1]?.findings[0]).toMatchObject({
      ruleId: "malformed-line",
      severity: "error",
      column: null,
      line: 3,
    });
  });

  test("bad cells: one finding per column, naming it", async () => {
    const csv = `${HEADER}\n${dataLine({ 6: "2025-02-30", 9: "deux", 10: "12.345", 13: "25:00", 2: "" })}`;
    const [line] = await parseAll(csv);
    expect(line?.record).toBeNull();
    expect(line?.findings.map((f) => [f.column, f.message])).toEqual([
      ["patient_nam", '"NAM" (patient_nam) is empty.'],
      ["service_date", '"Date de service" (service_date) is "2025-02-30", expected a date YYYY-MM-DD.'],
      ["units", '"Unités" (units) is "deux", expected a whole number ≥ 1.'],
      [
        "amount_cents",
        '"Montant réclamé" (amount_cents) is "12.345", expected an amount in dollars such as "86,50" or "86.50".',
      ],
      ["start_time", '"Heure début" (start_time) is "25:00", expected a time HH:MM.'],
    ]);
  });

  test("an unterminated quote is reported on the line it starts", async () => {
    const csv = [HEADER, dataLine(), dataLine({ 11: '"never closed' }), dataLine()].join("\n");
    const lines = await parseAll(csv);
    expect(summary(lines)).toEqual([
      { line: 2, ok: true, findings: [] },
      { line: 3, ok: false, findings: ["Malformed CSV: unterminated quoted field."] },
    ]);
  });

  test("a runaway quoted field is cut at maxRecordChars, and parsing resumes", async () => {
    const csv = [HEADER, dataLine({ 11: `"${"x".repeat(1000)}` }), dataLine({ 0: "2" })].join("\n");
    const lines = await parseAll(csv, { maxRecordChars: 400, chunkSize: 64 });
    expect(lines[0]?.findings[0]?.message).toContain("record longer than 400 characters");
    expect(lines.at(-1)).toMatchObject({ line: 3, record: { invoice_number: "2" } });
  });

  test("a stray character after a closing quote", async () => {
    const [line] = await parseAll(`${HEADER}\n${dataLine({ 11: '"401"x' })}`);
    expect(line?.findings[0]?.message).toBe('Malformed CSV: unexpected character "x" after a closing quote.');
  });

  test("a quote inside an unquoted field (RFC 4180: the field must be quoted)", async () => {
    const csv = [HEADER, dataLine({ 11: 'Fracture 5" x' }), dataLine({ 0: "2" })].join("\r\n");
    expect(summary(await parseAll(csv))).toEqual([
      {
        line: 2,
        ok: false,
        findings: [
          "Malformed CSV: a quote inside an unquoted field (quote the whole field and double its quotes).",
        ],
      },
      { line: 3, ok: true, findings: [] },
    ]);
  });

  test("after a fault in a record spanning lines, parsing resumes at the line after the fault", async () => {
    const csv = [
      HEADER,
      "", // blank lines before a broken record still count
      dataLine({ 11: '"a\r\nb\nc"é' }), // lines 3–5, the stray "é" on line 5
      dataLine({ 0: "2", 11: '"x\r\ny"' }), // lines 6–7
      dataLine({ 0: "3" }),
    ].join("\r\n");
    for (const chunkSize of [1, 5, 1 << 16]) {
      expect(summary(await parseAll(latin1(csv), { chunkSize }))).toEqual([
        { line: 3, ok: false, findings: ['Malformed CSV: unexpected character "é" after a closing quote.'] },
        { line: 6, ok: true, findings: [] },
        { line: 8, ok: true, findings: [] },
      ]);
    }
  });
});

describe("the header", () => {
  test("is matched despite case, accents, spacing, punctuation and order; extra columns are ignored", async () => {
    const header = [
      "date de  transmission",
      "N° FACTURE",
      "no_ligne",
      "nam",
      "DATE DE NAISSANCE",
      "No. professionnel",
      "NO ETABLISSEMENT",
      "Date du service",
      "Code facturation",
      "Montant réclamé ($)",
      "Commentaire",
    ].join(";");
    const row = "2025-05-25;1000001;1;TREM85062512;1985-06-25;1234567;00683;2025-05-20;00103;62,90;n/a";
    const [line] = await parseAll(`${header}\n${row}`);
    expect(line?.findings).toEqual([]);
    expect(line?.record).toMatchObject({
      amount_cents: 6290,
      units: 1,
      context_codes: [],
      diagnosis_code: null,
    });
  });

  test("missing required columns → ClaimsHeaderError listing them", async () => {
    const header = HEADER.replace("Date de service,", "").replace(",Montant réclamé", "");
    const error = await parseAll(`${header}\n`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClaimsHeaderError);
    expect((error as ClaimsHeaderError).missing).toEqual(["service_date", "amount_cents"]);
    expect((error as Error).message).toContain(
      'missing required columns "Date de service" (service_date), "Montant réclamé" (amount_cents)',
    );
  });

  test("a column named twice → ClaimsHeaderError", async () => {
    const error = await parseAll(`${HEADER},NAM\n`).catch((e: unknown) => e);
    expect((error as ClaimsHeaderError).duplicated).toEqual(["patient_nam"]);
  });

  test("an empty file → ClaimsHeaderError", async () => {
    await expect(parseAll("")).rejects.toThrow("no header line");
    await expect(parseAll("\n\n")).rejects.toBeInstanceOf(ClaimsHeaderError);
  });

  test("a header-only file yields nothing", async () => {
    expect(await parseAll(`${HEADER}\r\n`)).toEqual([]);
  });
});

describe("streaming", () => {
  const tricky = [
    `${HEADER},Remarque`,
    `${dataLine({ 11: '"Fièvre, ""forte""\r\nà l’urgence"' })},é`,
    `${dataLine({ 0: "2" })}`,
    `${dataLine({ 0: "3", 9: "x" })},ü`,
    `${dataLine({ 0: "4" })},"ç`,
  ].join("\r\n");

  for (const [name, bytes] of [
    ["UTF-8", utf8(tricky)],
    ["Windows-1252", latin1(tricky.replace("’", "\u0092"))],
    ["UTF-8 with BOM", new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(tricky)])],
  ] as const) {
    test(`1-byte chunks give the same result as one chunk (${name})`, async () => {
      const whole = await parseAll(bytes, { chunkSize: bytes.length });
      expect(whole).toHaveLength(4);
      expect(whole[0]?.record?.diagnosis_code).toBe('Fièvre, "forte"\r\nà l’urgence');
      expect(await parseAll(bytes, { chunkSize: 1 })).toEqual(whole);
      expect(await parseAll(bytes, { chunkSize: 7 })).toEqual(whole);
    });
  }

  test("200k generated lines are consumed incrementally, not buffered", async () => {
    const { stream } = streamClaims({
      reference: await seedReference(),
      rows: 200_000,
      seed: 3,
      today: "2025-06-01",
    });
    const source = stream.getReader();
    let pulls = 0;
    let done = false;
    const counted = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          const chunk = await source.read();
          if (chunk.done) {
            done = true;
            controller.close();
          } else {
            pulls++;
            controller.enqueue(chunk.value);
          }
        },
      },
      { highWaterMark: 0 },
    );
    let pullsAtFirst = -1;
    let lines = 0;
    let inOrder = true;
    for await (const line of parseClaims(counted)) {
      if (lines === 0) pullsAtFirst = pulls;
      lines++;
      inOrder &&= line.line === lines + 1 && line.record !== null;
    }
    expect(inOrder).toBe(true);
    expect(done).toBe(true);
    expect(lines).toBe(200_000);
    expect(pulls).toBeGreaterThan(100); // ~20 MB in 64 KiB chunks
    expect(pullsAtFirst).toBeLessThanOrEqual(2);
  });

  test("stopping early cancels the source", async () => {
    const bytes = utf8([HEADER, dataLine(), dataLine(), dataLine()].join("\n"));
    const stream = byteStream(bytes, 16);
    for await (const _ of parseClaims(stream)) break;
    expect(stream.pulls).toBeLessThan(bytes.length / 16);
    expect(stream.locked).toBe(false);
  });
});
