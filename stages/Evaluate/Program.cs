// Evaluate stage: implemented in the library; this file only parses arguments and reports.
return BottleneckPipeline.Runtime.StageHost.Guard("Evaluate", () => throw new BottleneckPipeline.Runtime.InputException("the Evaluate stage is not built yet"));
