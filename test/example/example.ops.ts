/** The example feature's PDUs: op numbers from the application range (1000+). */
export const ExampleOp = {
  ECHO: 1001,
  POKE: 1002,
  /** Server push to the poked user. */
  POKED: 1003,
  FAIL: 1004,
} as const;
