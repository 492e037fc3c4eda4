// Runs before every test file: keep the server's logs out of test output.
process.env.LOG_LEVEL ??= "error";
