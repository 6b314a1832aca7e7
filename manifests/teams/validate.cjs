// Validates manifests/teams/manifest.json (with a test app id filled in)
// against Microsoft's published JSON schema for its manifestVersion, as
// shipped by the npm package @microsoft/app-manifest. Node's regexp engine
// compiles the schema's lookahead patterns, which Go's RE2 cannot (1.23+).
// It also checks that a broken manifest IS rejected, so a validator that
// accepts everything cannot pass. Run by scripts/test.d/60-teams.sh:
//   NODE_PATH=<npm prefix>/node_modules node manifests/teams/validate.cjs
"use strict";
const fs = require("fs");
const path = require("path");
const Ajv = require("ajv-draft-04");
const addFormats = require("ajv-formats");

const placeholder = "{{MICROSOFT_APP_ID}}";
const testAppID = "11111111-2222-3333-4444-555555555555";
const text = fs.readFileSync(path.join(__dirname, "manifest.json"), "utf8");
if (!text.includes(placeholder)) {
  console.error("manifest.json has no " + placeholder + " placeholder");
  process.exit(1);
}
const manifest = JSON.parse(text.split(placeholder).join(testAppID));
const version = manifest.manifestVersion;
const schemaFile = require.resolve(
  `@microsoft/app-manifest/build/json-schemas/teams/v${version}/MicrosoftTeams.schema.json`,
);
const schema = JSON.parse(fs.readFileSync(schemaFile, "utf8"));
if (!String(manifest.$schema).includes(`/v${version}/`)) {
  console.error(`$schema ${manifest.$schema} does not match manifestVersion ${version}`);
  process.exit(1);
}
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(schema);

if (!validate(manifest)) {
  console.error(`manifest.json is not a valid Teams manifest v${version}:`);
  for (const e of validate.errors) console.error(`  ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
  process.exit(1);
}
const broken = JSON.parse(JSON.stringify(manifest));
delete broken.accentColor;
broken.bots[0].botId = "not-a-guid";
if (validate(broken)) {
  console.error("the schema validator accepted a broken manifest: it checks nothing");
  process.exit(1);
}
console.log(`manifest.json validates against ${path.relative(process.cwd(), schemaFile)} (schema v${version}); a broken one is rejected (${validate.errors.length} errors)`);
