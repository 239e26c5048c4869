export const metadata = { title: "sselog · Next.js example" };

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: "system-ui, sans-serif", maxWidth: "40rem", margin: "0 auto", padding: "1rem" }}>
        {children}
      </body>
    </html>
  );
}
