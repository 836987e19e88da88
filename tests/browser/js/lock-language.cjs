// Lock loads its dictionary as a script, {languageBaseUrl}/js/lock/{version}/{lang}.js, which
// calls Auth0.registerLanguageDictionary (Auth0's CDN serves these files). The test pages
// serve Lock's own English dictionary the same way instead of the CDN.
const fs = require('fs');
const path = require('path');
const version = require('auth0-lock/package.json').version;
const en = require('auth0-lock/lib/i18n/en.js').default;
const dir = path.join(__dirname, 'build', 'js', 'lock', version);
fs.mkdirSync(dir, {recursive: true});
fs.writeFileSync(path.join(dir, 'en.js'),
  'Auth0.registerLanguageDictionary("en", ' + JSON.stringify(en) + ');\n');
