// Helpers of the public plugin API (re-exported by `vigil/plugin`, sdk.ts) beyond what the
// context offers.

export { monoMicros, monoMs } from '../clock.ts';
