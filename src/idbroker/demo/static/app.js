// The demo SPA: auth0-spa-js against idbroker, and a backend call with the access token.
// Values from the server are written with textContent only, never as HTML.
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('config').textContent);
  var VIEWS = ['home', 'profile', 'vault', 'problem'];
  var client = null;

  function $(id) { return document.getElementById(id); }
  function display(value) { return typeof value === 'string' ? value : JSON.stringify(value); }
  function show(view) {
    VIEWS.forEach(function (id) { $(id).hidden = id !== view; });
  }
  function problem(e) {
    $('problem-error').textContent = (e && (e.error || e.name)) || 'error';
    $('problem-description').textContent = (e && (e.error_description || e.message)) || '';
    show('problem');
  }
  function table(el, object) {
    el.replaceChildren();
    Object.keys(object).sort().forEach(function (name) {
      var tr = document.createElement('tr');
      var th = document.createElement('th');
      var td = document.createElement('td');
      th.textContent = name;
      td.textContent = display(object[name]);
      tr.append(th, td);
      el.append(tr);
    });
  }

  async function showProfile() {
    var user = await client.getUser();
    $('user-id').textContent = user.sub;
    table($('claims'), user);
  }

  async function showVault() {
    var token = await client.getTokenSilently();
    var response = await fetch('/api/vault', {headers: {Authorization: 'Bearer ' + token}});
    var body = await response.json();
    if (!response.ok) throw body;
    document.querySelectorAll('.vault-user').forEach(function (el) {
      el.textContent = body.user_id;
    });
    var identities = $('identities');
    identities.replaceChildren();
    body.identities.forEach(function (identity) {
      var t = document.createElement('table');
      table(t, identity);
      identities.append(t);
    });
    $('api-url').textContent = 'GET ' + body.provider_api_url;
    $('api-status').textContent = body.api.status ? 'answered HTTP ' + body.api.status : '';
    $('api-body').textContent = body.api.body;
    var reader = $('reader');
    reader.replaceChildren();
    body.reader_identities.forEach(function (identity) {
      var li = document.createElement('li');
      li.textContent = identity.connection + ' / ' + identity.user_id + ': access_token ' +
        (identity.has_access_token ? 'is present (unexpected!)' : 'is absent, as it should be');
      if (identity.has_access_token) li.className = 'err';
      reader.append(li);
    });
  }

  async function route() {
    var view = location.hash.replace(/^#\/?/, '') || 'home';
    if (VIEWS.indexOf(view) < 0 || view === 'problem') view = 'home';
    var authenticated = await client.isAuthenticated();
    $('login').hidden = authenticated;
    $('logout').hidden = !authenticated;
    $('status').textContent = authenticated ? 'Signed in.' : 'Signed out.';
    if (!authenticated && view !== 'home') view = 'home';
    if (view === 'profile') await showProfile();
    if (view === 'vault') await showVault();
    if (view === 'home' && authenticated) {
      var user = await client.getUser();
      $('signed-in-as').textContent = 'Signed in as ' + (user.name || user.sub) + '.';
    }
    $('signed-in-as').hidden = !authenticated;
    show(view);
  }

  $('login').onclick = function () { client.loginWithRedirect().catch(problem); };
  $('logout').onclick = function () {
    client.logout({logoutParams: {returnTo: cfg.redirectUri}}).catch(problem);
  };

  // With the in-memory cache, createAuth0Client signs in silently (hidden iframe,
  // prompt=none) whenever this browser has signed in before and idbroker's session lives.
  auth0.createAuth0Client({
    domain: cfg.domain,
    clientId: cfg.clientId,
    authorizationParams: {redirect_uri: cfg.redirectUri, connection: cfg.connection,
                          scope: cfg.scope}
  }).then(async function (created) {
    client = created;
    var query = new URLSearchParams(location.search);
    if ((query.has('code') || query.has('error')) && query.has('state')) {
      try {
        await client.handleRedirectCallback();
      } catch (e) {
        history.replaceState(null, '', '/');
        problem(e);
        return;
      }
      history.replaceState(null, '', '/#/profile');
    }
    window.addEventListener('hashchange', function () { route().catch(problem); });
    await route();
  }).catch(problem);
})();
