// `vigil/plugin`: the whole public plugin API, the one module a plugin imports from vigil, built-in
// or user-written alike. api.ts holds definePlugin and the types of the context and the events;
// sdk-helpers.ts what plugins need beyond the context (running a command under keepalived's script
// security, user lookup, the monotonic clock). Nothing else of src/ is public.

export * from './api.ts';
export * from './sdk-helpers.ts';
