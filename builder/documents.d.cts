// Types for builder/documents.cjs (plain CommonJS so the Serverless Framework can load it).

export interface SsmDocumentParameter {
  type: 'String';
  description: string;
  default?: string;
  allowedPattern?: string;
  allowedValues?: string[];
  interpolationType: 'ENV_VAR';
}

export interface SsmCommandDocument {
  schemaVersion: '2.2';
  description: string;
  parameters: Record<string, SsmDocumentParameter>;
  mainSteps: Array<{
    action: 'aws:runShellScript';
    name: string;
    precondition: { StringEquals: [string, string] };
    inputs: { timeoutSeconds: string; runCommand: string[] };
  }>;
}

export interface BuildDocumentsOptions {
  repositories: readonly string[];
  /** Accept images from this region only; any region when absent. */
  region?: string;
  /** Default of the fresh document's NvidiaDriverBranch; 580 when absent. */
  nvidiaDriverBranch?: string;
}

export declare function buildDocuments(options: BuildDocumentsOptions): {
  fresh: SsmCommandDocument;
  incremental: SsmCommandDocument;
  healthCheck: SsmCommandDocument;
};
/** For serverless.yml: ${file(builder/documents.cjs):freshInstall}; reads config/pipeline.json. */
export declare function freshInstall(context?: unknown): Promise<SsmCommandDocument>;
/** For serverless.yml: ${file(builder/documents.cjs):update}; reads config/pipeline.json. */
export declare function update(context?: unknown): Promise<SsmCommandDocument>;
/** For serverless.yml: ${file(builder/documents.cjs):healthCheck}; reads config/pipeline.json. */
export declare function healthCheck(context?: unknown): Promise<SsmCommandDocument>;
export declare function imageUriPattern(repositories: readonly string[], region?: string): string;
export declare function readConfiguredRepositories(file?: string): string[];
export declare function configuredOptions(file?: string): BuildDocumentsOptions;
/** The document step's timeoutSeconds. */
export declare const TIMEOUT_SECONDS: string;
export declare const DEFAULT_DRIVER_BRANCH: string;
export declare const CONTAINER_PORT_PATTERN: string;
export declare const HEALTH_TIMEOUT_PATTERN: string;
export declare const SCRIPTS_DIR: string;
export declare const INSTALL_DIR: string;
