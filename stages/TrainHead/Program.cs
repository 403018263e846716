// TrainHead stage: implemented in the library; this file only parses arguments and reports.
return BottleneckPipeline.Runtime.StageHost.Guard("TrainHead", () => throw new BottleneckPipeline.Runtime.InputException("the TrainHead stage is not built yet"));
