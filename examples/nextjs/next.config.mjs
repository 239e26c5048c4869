/** @type {import('next').NextConfig} */
const nextConfig = {
  // The page reads SSELOG_URL at request time; nothing else to configure.
  poweredByHeader: false,
};
export default nextConfig;
