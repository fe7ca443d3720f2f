// Plugins declare the schema of their own config section; the loader validates `plugins.NAME`
// with it, so a plugin's config is as typed and as well reported as the core's.

import type { z } from 'zod';

export interface PluginSection<S extends z.ZodType = z.ZodType> {
  name: string;
  schema: S;
}

export class PluginSectionRegistry {
  private readonly sections = new Map<string, PluginSection>();

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
}
