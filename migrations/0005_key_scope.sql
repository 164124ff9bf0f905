-- 0005_key_scope: API keys name their orgs by id, may be limited to
-- credentials of those orgs (by name), and may expire.
--
-- org_ids is "*" or ascending org ids "3,7": a key does not cover a new
-- org that takes a removed org's slug.  This file copies the slugs of
-- orgs into org_ids; the hook (vault/apikey_migrate.c) then checks each
-- row's MAC of schema 0004, turns the slugs into ids, MACs the rows whose
-- MAC held in the new form, and revokes a live key none of whose orgs
-- exists (its slugs named orgs yet to be made).
ALTER TABLE api_keys ADD COLUMN org_ids TEXT NOT NULL DEFAULT '*';
ALTER TABLE api_keys ADD COLUMN credentials TEXT NOT NULL DEFAULT '*';
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
UPDATE api_keys SET org_ids = orgs;
ALTER TABLE api_keys DROP COLUMN orgs;
