-- Custom SQL: Drizzle cannot declare a text search configuration or an index over an expression that uses it.
-- Full-text search over live message content with PostgreSQL's own text search.
-- Words are lower-cased and stripped of diacritics, as SQLite's unicode61 tokenizer with
-- remove_diacritics does; no stemming and no stop words, so every word can be found.
CREATE EXTENSION IF NOT EXISTS unaccent;
--> statement-breakpoint
CREATE TEXT SEARCH CONFIGURATION public.chat_search (COPY = pg_catalog.simple);
--> statement-breakpoint
ALTER TEXT SEARCH CONFIGURATION public.chat_search ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
--> statement-breakpoint
-- Queries must repeat this expression and predicate to use the index. A soft-deleted
-- message (deleted_at set) leaves it.
CREATE INDEX messages_search_idx ON messages USING gin (to_tsvector('public.chat_search'::regconfig, content)) WHERE deleted_at IS NULL;
