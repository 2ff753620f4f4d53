// `npm run build`: the CLI as bundles in dist/bundle, which bin/edgebox.js runs.
//
// Only @kubernetes/client-node is bundled, with our own modules: its index loads every API group
// of Kubernetes three times over (about 40 MB of the controller's resident memory); bundled, what
// edgebox never calls is dropped. Every other dependency stays an ordinary import.
//
// The controller, a long-running process with a memory target, is a bundle of its own: in the
// CLI's bundle it would share one chunk of the client with every other command (apply's generic
// object API reaches every API group), so it would load what they use.
//
// dist/bundle is two levels below the package root, as dist/<area> is: paths built from
// import.meta.url (package.json, the web assets, the toolchain) hold in both layouts.
const CONTROLLER_COMMAND = './commands/controller.js';
const bundled = (id) => id.startsWith('.') || id.startsWith('/') || id.startsWith('@kubernetes/client-node');

export default [
  {
    input: { main: 'dist/cli/main.js' },
    platform: 'node',
    external: (id) => !bundled(id),
    plugins: [
      {
        name: 'controller-bundle',
        // main.js loads the controller command from the controller's own bundle, beside it.
        resolveId: (source) => (source === CONTROLLER_COMMAND ? { id: './controller.js', external: 'relative' } : null),
      },
    ],
    output: { dir: 'dist/bundle', format: 'esm', cleanDir: true },
  },
  {
    input: { controller: `dist/cli/${CONTROLLER_COMMAND.slice(2)}` },
    platform: 'node',
    external: (id) => !bundled(id),
    output: { dir: 'dist/bundle', format: 'esm', codeSplitting: false, minify: true, keepNames: true },
  },
];
