#!/usr/bin/env node
// The bundled CLI (rolldown.config.js); dist/cli holds the same modules unbundled.
import '../dist/bundle/main.js';
