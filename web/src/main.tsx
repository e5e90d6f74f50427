import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app';
import { ShortcutProvider } from './kit/shortcuts';
import { ToastProvider } from './kit/toast';
import { SessionProvider } from './session';
import './styles.css';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ToastProvider>
      <ShortcutProvider>
        <SessionProvider>
          <App />
        </SessionProvider>
      </ShortcutProvider>
    </ToastProvider>
  </StrictMode>,
);
