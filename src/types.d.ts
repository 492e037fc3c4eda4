declare module "*.sql" {
  const sql: string;
  export default sql;
}

// Embedded with `with { type: "file" }`: the import is the file's path (inside the binary once compiled).
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const path: string;
  export default path;
}
declare module "swagger-ui-dist/swagger-ui.css" {
  const path: string;
  export default path;
}
