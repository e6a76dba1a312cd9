/**
 * Deterministic generator for the reference-data seed CSVs (synthetic RAMQ-like data, no real persons).
 * Run: `bun services/dash/reference-data/seed/gen.ts` — rewrites codes.csv, contexts.csv, establishments.csv
 * and rules.csv next to this file. Same seed, same bytes: the CSVs are committed.
 */

// mulberry32: tiny seeded PRNG, good enough for fixtures.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = mulberry32(20250601);
const int = (min: number, max: number) => min + Math.floor(rand() * (max - min + 1));
const chance = (p: number) => rand() < p;
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;

const DAY = 86_400_000;
const toDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const dateBetween = (from: string, to: string) =>
  toDate(int(Date.parse(from) / DAY, Date.parse(to) / DAY) * DAY);

type Field = string | number | boolean | null;
const quote = (v: string) => `"${v.replaceAll('"', '""')}"`;
const cell = (v: Field) => {
  const s = v === null ? "" : String(v);
  return /[",\r\n]/.test(s) ? quote(s) : s;
};

async function writeCsv(file: string, header: string[], rows: Field[][], forceQuote: string[] = []) {
  const lines = rows.map((row) =>
    row.map((v, i) => (forceQuote.includes(header[i] as string) ? quote(String(v)) : cell(v))).join(","),
  );
  await Bun.write(`${import.meta.dir}/${file}`, `${[header.join(","), ...lines].join("\n")}\n`);
  console.log(`${file}: ${rows.length} rows`);
}

// ---------------------------------------------------------------- codes

type Category = {
  name: string;
  range: [number, number];
  tariff: [number, number];
  units: string[];
  place: string[];
  contextP: number;
  bases: string[];
  qualifiers: string[];
};

const categories: Category[] = [
  {
    name: "examen",
    range: [0, 1999],
    tariff: [3000, 12000],
    units: ["acte"],
    place: ["cabinet", "both", "both", "etablissement"],
    contextP: 0.15,
    bases: [
      "Examen complet majeur",
      "Examen complet",
      "Examen ordinaire",
      "Examen de contrôle",
      "Examen complet périodique",
      "Examen gynécologique",
      "Examen psychiatrique complet",
      "Examen pédiatrique complet",
      "Évaluation gériatrique globale",
      "Examen préopératoire",
      "Bilan de santé annuel",
    ],
    qualifiers: [
      "",
      ", patient vulnérable",
      ", en présence d'un proche",
      ", patient inscrit",
      " à domicile",
      ", hors heures ouvrables",
      " en télémédecine",
      ", premier contact",
    ],
  },
  {
    name: "visite",
    range: [8000, 8999],
    tariff: [1500, 8000],
    units: ["visite"],
    place: ["cabinet", "both", "etablissement"],
    contextP: 0.2,
    bases: [
      "Visite de contrôle",
      "Visite principale",
      "Visite de suivi",
      "Visite à domicile",
      "Visite en CHSLD",
      "Visite de départ",
      "Visite d'admission",
      "Visite en soins intensifs",
      "Visite de prise en charge",
      "Visite brève",
    ],
    qualifiers: [
      "",
      ", patient hospitalisé",
      ", patient hébergé",
      ", jour férié",
      " à l'étage",
      ", deuxième visite",
    ],
  },
  {
    name: "consultation",
    range: [9000, 9999],
    tariff: [6000, 25000],
    units: ["acte", "visite"],
    place: ["cabinet", "both", "etablissement"],
    contextP: 0.2,
    bases: [
      "Consultation",
      "Consultation en cardiologie",
      "Consultation en dermatologie",
      "Consultation en neurologie",
      "Consultation en psychiatrie",
      "Consultation en gériatrie",
      "Consultation en pédiatrie",
      "Consultation en médecine interne",
      "Consultation en gastro-entérologie",
      "Consultation téléphonique",
      "Consultation de deuxième opinion",
    ],
    qualifiers: [
      "",
      ", urgente",
      ", à la demande d'un autre médecin",
      ", patient hospitalisé",
      " en télémédecine",
    ],
  },
  {
    name: "chirurgie",
    range: [10000, 19999],
    tariff: [20000, 250000],
    units: ["acte"],
    place: ["etablissement", "etablissement", "both"],
    contextP: 0.2,
    bases: [
      "Accès vasculaire central",
      "Accès vasculaire périphérique échoguidé",
      "Appendicectomie",
      "Cholécystectomie par laparoscopie",
      "Réparation de hernie inguinale",
      "Excision de lésion cutanée",
      "Suture de plaie complexe",
      "Réduction de fracture du radius",
      "Arthroscopie du genou",
      "Thyroïdectomie totale",
      "Drainage d'abcès",
      "Greffe cutanée",
    ],
    qualifiers: ["", ", unilatéral", ", bilatéral", ", reprise", ", moins de 5 cm", " chez l'enfant"],
  },
  {
    name: "anesthésie",
    range: [20000, 29999],
    tariff: [5000, 60000],
    units: ["acte", "15 minutes"],
    place: ["etablissement"],
    contextP: 0.2,
    bases: [
      "Anesthésie générale",
      "Anesthésie rachidienne",
      "Anesthésie péridurale obstétricale",
      "Bloc nerveux périphérique",
      "Sédation consciente",
      "Accès veineux périphérique difficile",
      "Anesthésie pour chirurgie cardiaque",
      "Surveillance anesthésique",
      "Intubation endotrachéale",
    ],
    qualifiers: [
      "",
      ", première heure",
      ", chaque 15 minutes additionnelles",
      ", patient ASA III ou plus",
      ", patient de moins de 1 an",
      ", position ventrale",
    ],
  },
  {
    name: "obstétrique",
    range: [6000, 6999],
    tariff: [15000, 120000],
    units: ["acte"],
    place: ["etablissement", "both"],
    contextP: 0.25,
    bases: [
      "Accouchement vaginal",
      "Césarienne",
      "Suivi de grossesse",
      "Suivi de grossesse à risque élevé",
      "Échographie obstétricale",
      "Amniocentèse",
      "Version céphalique externe",
      "Révision utérine",
      "Visite post-partum",
      "Induction du travail",
    ],
    qualifiers: ["", ", grossesse multiple", ", premier trimestre", ", hors établissement", " avec forceps"],
  },
  {
    name: "psychothérapie",
    range: [7000, 7999],
    tariff: [2000, 9000],
    units: ["15 minutes", "minute"],
    place: ["cabinet", "both"],
    contextP: 0.1,
    bases: [
      "Psychothérapie individuelle",
      "Psychothérapie de couple",
      "Psychothérapie familiale",
      "Psychothérapie de groupe",
      "Intervention de crise",
      "Thérapie cognitivo-comportementale",
      "Entrevue psychiatrique",
      "Évaluation du risque suicidaire",
    ],
    qualifiers: ["", ", première séance", ", séance prolongée", " en télémédecine", ", patient hospitalisé"],
  },
  {
    name: "radiologie",
    range: [30000, 39999],
    tariff: [2000, 40000],
    units: ["acte"],
    place: ["etablissement", "both"],
    contextP: 0.1,
    bases: [
      "Radiographie pulmonaire",
      "Radiographie du poignet",
      "Tomodensitométrie, tête",
      "Tomodensitométrie, abdomen et pelvis",
      "Résonance magnétique, colonne lombaire",
      "Échographie abdominale",
      "Mammographie de dépistage",
      "Ostéodensitométrie",
      "Échographie Doppler veineuse",
      "Fluoroscopie",
    ],
    qualifiers: ["", ", sans contraste", ", avec contraste", ", bilatérale", ", interprétation seulement"],
  },
  {
    name: "urgence",
    range: [40000, 41999],
    tariff: [3000, 20000],
    units: ["acte", "visite", "15 minutes"],
    place: ["etablissement"],
    contextP: 0.5,
    bases: [
      "Évaluation à l'urgence",
      "Réanimation cardiorespiratoire",
      "Prise en charge d'un polytraumatisé",
      "Examen à l'urgence, patient sur civière",
      "Examen à l'urgence, patient ambulatoire",
      "Réduction de luxation de l'épaule",
      "Immobilisation plâtrée",
      "Transfert interétablissement, accompagnement",
      "Ponction lombaire",
    ],
    qualifiers: ["", ", de nuit", ", fin de semaine", ", jour férié", ", chaque 30 minutes additionnelles"],
  },
  {
    name: "soins palliatifs",
    range: [42000, 42999],
    tariff: [4000, 15000],
    units: ["visite", "jour"],
    place: ["both", "etablissement"],
    contextP: 0.2,
    bases: [
      "Soins palliatifs à domicile",
      "Prise en charge en soins palliatifs",
      "Visite en unité de soins palliatifs",
      "Aide médicale à mourir, évaluation",
      "Rencontre avec la famille",
      "Gestion de la douleur en fin de vie",
      "Sédation palliative continue",
    ],
    qualifiers: ["", ", première visite", ", visite subséquente", " en CHSLD", ", hors heures ouvrables"],
  },
];

const PER_CATEGORY = 34;
type Code = Field[];
const codes: Code[] = [];
const usedCodes = new Set<string>();

function addCode(c: Category, code: string, description: string, stable = false) {
  usedCodes.add(code);
  const from = stable ? "2015-01-01" : dateBetween("2015-01-01", "2025-06-01");
  const to = !stable && chance(0.15) ? toDate(Date.parse(from) + int(180, 2500) * DAY) : null;
  codes.push([
    code,
    description,
    c.name,
    int(c.tariff[0] / 5, c.tariff[1] / 5) * 5,
    pick(c.units),
    stable ? "both" : pick(c.place),
    !stable && chance(c.contextP),
    stable || chance(0.5) ? null : int(1, 6),
    from,
    to,
    stable || chance(0.95),
  ]);
}

// A few fixed, always-valid codes that tests and examples can rely on.
const byName = (name: string) => categories.find((c) => c.name === name) as Category;
addCode(byName("examen"), "00103", "Examen complet majeur", true);
addCode(byName("visite"), "08101", 'Visite dite "de courtoisie", patient hospitalisé', true);
addCode(byName("chirurgie"), "15120", "Accès vasculaire central, cathéter tunnellisé", true);

for (const c of categories) {
  const seen = new Set<string>();
  while (seen.size < PER_CATEGORY) {
    const description = pick(c.bases) + pick(c.qualifiers);
    if (seen.has(description)) continue;
    seen.add(description);
    let code: string;
    do code = String(int(c.range[0], c.range[1])).padStart(5, "0");
    while (usedCodes.has(code));
    addCode(c, code, description);
  }
}
codes.sort((a, b) => String(a[0]).localeCompare(String(b[0])));

// ---------------------------------------------------------------- contexts

const contexts: [string, string, boolean][] = [
  ["AM", "Avant-midi (de 8 h à 12 h)", true],
  ["PM", "Après-midi (de 12 h à 18 h)", true],
  ["SOIR", "Soirée (de 18 h à minuit)", true],
  ["NUIT", "Nuit (de minuit à 8 h)", true],
  ["WE", "Fin de semaine", true],
  ["FERIE", "Jour férié", true],
  ["URG", "Service rendu en urgence", true],
  ["GARDE", "Garde en disponibilité", true],
  ["1981", "Mesure incitative, entente de 1981", false],
  ["SNT", "Service non tarifé, à titre indicatif", true],
  ["TELE", "Télémédecine (téléconsultation vidéo)", true],
  ["TELEPH", "Consultation téléphonique", true],
  ["DOMI", "Visite à domicile", true],
  ["CHSLD", "Patient hébergé en CHSLD", true],
  ["GMF", "Patient inscrit en groupe de médecine de famille", true],
  ["VULN", "Patient vulnérable", true],
  ["75ANS", "Patient âgé de 75 ans ou plus", true],
  ["PED", "Pédiatrie, patient de moins de 2 ans", true],
  ["BILAT", "Intervention bilatérale", true],
  ["ASSIST", "Assistance opératoire", true],
  ["REPR", "Reprise chirurgicale", true],
  ["ISOL", "Patient en isolement préventif", true],
  ["REGE", "Majoration pour région éloignée", true],
  ["NORD", "Territoire nordique", true],
  ["INTERP", "Présence d'un interprète", true],
  ["DELEG", "Acte délégué à une infirmière praticienne", true],
  ["RETRO", "Facturation rétroactive", false],
  ["CORR", "Correction d'une demande de paiement", true],
  ["MD2", "Deuxième médecin présent", true],
  ["MULTI", "Actes multiples, même séance", true],
  ["PAL", "Soins palliatifs de fin de vie", true],
  ["GRP", "Séance de groupe", true],
  ["HORSET", "Accouchement hors établissement", true],
  ["TRAUM", "Patient polytraumatisé", true],
  ["ENS", "Activité d'enseignement avec un résident", true],
  ["NOUV", "Évaluation d'un nouveau patient", true],
  ["SUIVI", "Suivi de grossesse", true],
  ["ORPH", "Patient orphelin, guichet d'accès", true],
];

// ---------------------------------------------------------------- establishments

// Towns per RSS region (01 Bas-Saint-Laurent … 18 Terres-Cries-de-la-Baie-James).
const towns: [region: string, names: string][] = [
  ["01", "Rimouski, Rivière-du-Loup, Matane"],
  ["02", "Chicoutimi, Jonquière, Alma, Roberval"],
  ["03", "Québec, Limoilou, Sainte-Foy, Charlesbourg, Beauport, Baie-Saint-Paul"],
  ["04", "Trois-Rivières, Shawinigan, La Tuque"],
  ["05", "Sherbrooke, Magog, Coaticook"],
  ["06", "Rosemont, Hochelaga-Maisonneuve, Verdun, Ahuntsic, Saint-Laurent, Côte-des-Neiges, Villeray"],
  ["06", "Mont-Royal, Lachine, Montréal-Nord"],
  ["07", "Gatineau, Hull, Maniwaki"],
  ["08", "Rouyn-Noranda, Val-d'Or, Amos"],
  ["09", "Baie-Comeau, Sept-Îles"],
  ["10", "Chibougamau"],
  ["11", "Gaspé, Chandler, Cap-aux-Meules"],
  ["12", "Lévis, Thetford Mines, Saint-Georges, Montmagny"],
  ["13", "Laval, Chomedey, Sainte-Rose"],
  ["14", "Joliette, Terrebonne, Repentigny"],
  ["15", "Saint-Jérôme, Sainte-Agathe-des-Monts, Mont-Laurier"],
  ["16", "Longueuil, Saint-Hyacinthe, Granby, Châteauguay, Sorel-Tracy"],
  ["17", "Kuujjuaq, Puvirnituq"],
  ["18", "Chisasibi"],
];
const places = towns.flatMap(([region, names]) => names.split(", ").map((place) => [place, region] as const));
const clinics = "Les Saules, du Parc, des Érables, Le Carrefour, Sainte-Thérèse, des Pins".split(", ");
const saints = "Saint-Joseph, Sainte-Anne, Notre-Dame, Saint-François-d'Assise, Sainte-Élisabeth".split(", ");

const establishments: [type: string, name: string, region: string][] = [
  ["CHU", "Centre hospitalier de l'Université de Montréal", "06"],
  ["CHU", "CHU Sainte-Justine", "06"],
  ["CHU", "CHU de Québec – Université Laval", "03"],
  ["CHU", "Centre hospitalier universitaire de Sherbrooke", "05"],
  ["CH", "Hôpital Maisonneuve-Rosemont", "06"],
  ["CH", "Hôpital du Sacré-Cœur de Montréal", "06"],
  ["CR", "Centre de réadaptation Lucie-Bruneau", "06"],
  ["cabinet", "Clinique médicale Les Saules, succursale Nord", "03"],
];
for (const [place, region] of places) {
  const de = /^[AEIOUÉÎ]/.test(place) ? "d'" : "de ";
  const add = (p: number, type: string, name: string) =>
    chance(p) && establishments.push([type, name, region]);
  add(1, "CLSC", `CLSC ${de}${place}`);
  add(0.45, "CH", `Hôpital ${de}${place}`);
  add(0.35, "CHSLD", `CHSLD ${pick(saints)} ${de}${place}`);
  add(0.45, "GMF", `GMF ${de}${place}`);
  add(0.4, "cabinet", `Clinique médicale ${pick(clinics)} ${de}${place}`);
  add(0.12, "UMF", `UMF ${de}${place}`);
  add(0.08, "CR", `Centre de réadaptation ${de}${place}`);
}
const usedNumbers = new Set<string>();
const establishmentRows = establishments.map(([type, name, region]) => {
  let number: string;
  do number = String(int(1, 99999)).padStart(5, "0");
  while (usedNumbers.has(number));
  usedNumbers.add(number);
  return [number, name, type, region, chance(0.93)];
});
establishmentRows.sort((a, b) => String(a[0]).localeCompare(String(b[0])));

// ---------------------------------------------------------------- rules

const rules: [string, string, string, string, object][] = [
  ["unknown-code", "Code de facturation inconnu", "code", "error", {}],
  ["code-not-in-effect", "Code non en vigueur à la date du service", "code", "error", {}],
  ["unknown-establishment", "Établissement inconnu", "establishment", "error", {}],
  ["inactive-establishment", "Établissement inactif", "establishment", "error", {}],
  ["place-of-service-mismatch", "Lieu de dispensation incompatible", "establishment", "error", {}],
  ["context-required", "Élément de contexte requis pour ce code", "context", "error", {}],
  ["unknown-context", "Élément de contexte inconnu", "context", "error", {}],
  ["service-date-in-future", "Date de service dans le futur", "date", "error", {}],
  ["service-too-old", "Date de service trop ancienne", "date", "error", { maxDays: 90 }],
  ["amount-not-positive", "Montant nul ou négatif", "amount", "error", {}],
  ["amount-above-tariff", "Montant supérieur au tarif", "amount", "warning", {}],
  ["nam-invalid", "Numéro d'assurance maladie (NAM) invalide", "patient", "error", {}],
  ["duplicate-line", "Ligne en double dans le fichier", "duplicate", "warning", {}],
  ["max-per-day-exceeded", "Nombre maximal d'actes par jour dépassé", "frequency", "error", {}],
];

await writeCsv(
  "codes.csv",
  [
    ...["code", "description", "category", "tariff_cents", "unit", "place_of_service", "requires_context"],
    ...["max_per_day", "effective_from", "effective_to", "active"],
  ],
  codes,
);
await writeCsv("contexts.csv", ["code", "description", "active"], contexts);
await writeCsv("establishments.csv", ["number", "name", "type", "region", "active"], establishmentRows);
await writeCsv(
  "rules.csv",
  ["id", "name", "category", "severity", "enabled", "params"],
  rules.map(([id, name, cat, severity, params]) => [id, name, cat, severity, true, JSON.stringify(params)]),
  ["params"],
);
