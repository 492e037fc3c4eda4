// The client the app uses takes its types from the server's routes (`App`), so this project
// type-checks server files under the DOM library too: Bun's additions that DOM's types lack.
interface Worker {
  unref(): void;
}
