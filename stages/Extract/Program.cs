// Extract stage: implemented in the library; this file only parses arguments and reports.
return BottleneckPipeline.Runtime.StageHost.Guard("Extract", () => throw new BottleneckPipeline.Runtime.InputException("the Extract stage is not built yet"));
