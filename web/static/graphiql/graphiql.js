// GraphiQL for RedGrid: the README's examples as tabs, the headers pane's Authorization also
// sent with subscriptions (in graphql-transport-ws `connection_init`).

/* global React, ReactDOM, GraphiQL, GraphiQLPluginExplorer */

const url = `${window.location.origin}/graphql`;
const subscriptionUrl = url.replace(/^http/, 'ws');

// One fetcher per call, so a subscription opens its socket with the headers of that moment.
function fetcher(params, options) {
  const headers = options?.headers ?? {};
  return GraphiQL.createFetcher({ url, subscriptionUrl, headers, wsConnectionParams: headers })(
    params, options);
}

async function main() {
  const response = await fetch('/graphiql/examples.json');
  const examples = response.ok ? await response.json() : [];
  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher,
    defaultTabs: examples,
    defaultEditorToolsVisibility: true,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
  }));
}

main();
