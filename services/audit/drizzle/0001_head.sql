-- The head row exists from the start, so the first appends already serialize on its lock (SELECT … FOR UPDATE).
INSERT INTO "audit_head" ("id", "seq", "hash") VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000') ON CONFLICT DO NOTHING;
