export * from "./define.ts";
export * from "./gateway.contract.ts";
export * from "./m365.contract.ts";
export * from "./notifications.contract.ts";
export * from "./people.contract.ts";
export * from "./pulse.contract.ts";
export * from "./registry.ts";
export * from "./teams.contract.ts";
