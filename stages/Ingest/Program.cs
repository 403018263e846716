// Ingest stage: implemented in the library; this file only parses arguments and reports.
return BottleneckPipeline.Runtime.StageHost.Guard("Ingest", () => throw new BottleneckPipeline.Runtime.InputException("the Ingest stage is not built yet"));
