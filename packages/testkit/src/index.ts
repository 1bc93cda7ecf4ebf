export * from "./brokers.ts";
export * from "./database.ts";
export * from "./environment.ts";
export * from "./names.ts";
export * from "./ports.ts";
export * from "./wait.ts";
