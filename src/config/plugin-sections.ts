// The config loader's contract with the plugins: each plugin declares the schema of its own
// section (`plugins.NAME`), and the loader validates the section with it, so a plugin's config is
// as typed and as well reported as the core's. The registry is built on the plugin side (the
// built-ins' config modules, the user's plugins) and handed to the loader: config imports no
// plugin.

import type { z } from 'zod';
import type { Diagnostic, PositionMap } from './diagnostics.ts';
import type { Config } from './schema.ts';

export interface PluginSection<S extends z.ZodType = z.ZodType> {
  name: string;
  /** Absent: the section is validated by the plugin itself, when it starts. */
  schema?: S;
  /** A plugin that ships with vigil (plugins/NAME). */
  builtin?: boolean;
}

/** A check of the whole plugin setup, run after the sections are validated (e.g. that every
 * section names a plugin that exists). */
export type PluginCheck = (config: Config, positions: Pick<PositionMap, 'get'>) => Diagnostic[];

export class PluginSectionRegistry {
  private readonly sections = new Map<string, PluginSection>();
  private readonly checks: PluginCheck[] = [];

  register<S extends z.ZodType>(section: PluginSection<S>): void {
    if (this.sections.has(section.name)) throw new Error(`plugin section '${section.name}' registered twice`);
    this.sections.set(section.name, section);
  }

  get(name: string): PluginSection | undefined {
    return this.sections.get(name);
  }

  names(): string[] {
    return [...this.sections.keys()].sort();
  }

  /** The built-in plugins' names. */
  builtinNames(): string[] {
    return [...this.sections.values()]
      .filter((s) => s.builtin === true)
      .map((s) => s.name)
      .sort();
  }

  /** Adds a check the loader runs after validating the sections. */
  addCheck(check: PluginCheck): void {
    this.checks.push(check);
  }

  check(config: Config, positions: Pick<PositionMap, 'get'>): Diagnostic[] {
    return this.checks.flatMap((c) => c(config, positions));
  }
}
