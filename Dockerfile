# The pushring front door. Build: docker build -t pushring .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The page at / (src/http/page.ts reads it at start).
COPY static ./static
# The file_sd targets are written here; a named volume mounted on it inherits this owner.
RUN mkdir -p /var/lib/pushring/sd && chown node:node /var/lib/pushring/sd
USER node
EXPOSE 9191
ENTRYPOINT ["node", "bin/pushring.js"]
CMD ["serve", "--config", "/etc/pushring/pushring.yaml"]
