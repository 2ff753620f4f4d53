import { readdir, readFile, stat } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { rolldown, type OutputChunk, type RolldownPlugin } from 'rolldown';
import { APP_DIR, type ImageEntry } from './plan.js';

/**
 * The app layer: the CLI and the controller as bundles with every dependency inlined (the npm
 * package's bundles leave all but the Kubernetes client as imports of node_modules), laid out as
 * in the package (`dist/bundle`, `package.json` two levels up) so paths built from
 * import.meta.url hold. The controller stays a bundle of its own, for the reason rolldown.config.js
 * gives.
 *
 * One package is copied whole: `yaml`, which src/cli/output.ts requires at run time only when
 * YAML is printed (a bundler cannot see that require).
 */
const CONTROLLER_COMMAND = './commands/controller.js';
const RUNTIME_PACKAGES = ['yaml'];
const builtin = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/**
 * Native addons stay out: a bundle cannot carry them for another architecture, and the ones in the
 * tree (ssh2's sshcrypto, cpu-features) are optional, required inside try/catch with a pure
 * JavaScript fallback. `__dirname`, which CommonJS code such as ssh2's poly1305 reads when it
 * loads, is the ES module's own directory.
 */
const nativeAddons: RolldownPlugin = { name: 'native-addons', resolveId: (source) => (source.endsWith('.node') ? { id: source, external: true } : null) };

async function bundle(cwd: string, input: Record<string, string>, single: boolean, plugins: RolldownPlugin[] = []): Promise<OutputChunk[]> {
  const build = await rolldown({
    input,
    cwd,
    platform: 'node',
    external: (id) => builtin.has(id),
    plugins: [nativeAddons, ...plugins],
    transform: { define: { __dirname: 'import.meta.dirname' } },
    logLevel: 'silent',
  });
  const { output } = await build.generate({ format: 'esm', ...(single ? { codeSplitting: false, minify: true, keepNames: true } : {}) });
  await build.close();
  return output.filter((o): o is OutputChunk => o.type === 'chunk');
}

/** Needs `npm run build` first: bundles the compiled dist/cli. */
export async function appEntries(root: string, version: string): Promise<ImageEntry[]> {
  const cli = join(root, 'dist', 'cli');
  const controllerExternal: RolldownPlugin = {
    name: 'controller-bundle',
    resolveId: (source) => (source === CONTROLLER_COMMAND ? { id: './controller.js', external: 'relative' } : null),
  };
  const chunks = [
    ...(await bundle(root, { main: join(cli, 'main.js') }, false, [controllerExternal])),
    ...(await bundle(root, { controller: join(cli, CONTROLLER_COMMAND.slice(2)) }, true)),
  ];
  const entries: ImageEntry[] = chunks.map((c) => ({ type: 'file', path: `${APP_DIR}/dist/bundle/${c.fileName}`, mode: 0o644, content: Buffer.from(c.code) }));
  const pkg = { name: 'edgebox', version, type: 'module', license: 'Apache-2.0' };
  entries.push({ type: 'file', path: `${APP_DIR}/package.json`, mode: 0o644, content: Buffer.from(`${JSON.stringify(pkg, null, 2)}\n`) });
  for (const name of RUNTIME_PACKAGES) {
    const dir = join(root, 'node_modules', name);
    const files = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name));
    for (const file of files) {
      const mode = (await stat(file)).mode & 0o111 ? 0o755 : 0o644;
      entries.push({ type: 'file', path: `${APP_DIR}/node_modules/${name}/${relative(dir, file)}`, mode, content: await readFile(file) });
    }
  }
  return entries;
}
