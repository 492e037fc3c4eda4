import { defineConfig } from "drizzle-kit";

// One schema file and one migrations folder per dialect: `bun run db:generate` runs both.
const dialect = process.env.DB_DIALECT === "pg" ? "postgresql" : "sqlite";

export default defineConfig(
  dialect === "sqlite"
    ? { dialect, schema: ["./src/db/schema.sqlite.ts", "./src/db/schema.sqlite-state.ts"], out: "./drizzle/sqlite", casing: "snake_case" }
    : { dialect, schema: "./src/db/schema.pg.ts", out: "./drizzle/pg", casing: "snake_case" },
);
