import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app.tsx';

// StrictMode on: in a development build React mounts, unmounts and mounts every component again,
// and the hooks still open one stream each.
const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <App baseUrl={new URLSearchParams(location.search).get('herald') ?? location.origin} />
  </StrictMode>,
);
