// The browser build of Lock: its npm package ships CommonJS (lib/) only, so the tests bundle
// it with esbuild into one script that defines window.Auth0Lock, as Auth0's CDN build does.
var lock = require('auth0-lock');
window.Auth0Lock = lock.Auth0Lock;
window.Auth0LockPasswordless = lock.Auth0LockPasswordless;
