using System.Diagnostics;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Training;
using BottleneckPipeline.TunedNetwork;
using Onnx;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// The FineTune stage: from the index's splits, Extract's backbone and TrainHead's head, trains the
/// backbone's last part (fine_tune.trainable) with the head, BatchNorm frozen, and writes the
/// artifact of <see cref="TunedNetworkManifest"/>: the fine-tuned backbone, its head, the manifest last.
/// Up to date (and instant) when the manifest's inputs hash is the current one.
/// </summary>
public static class FineTuneStage
{
    public static readonly string[] Sections = ["fine_tune"];
    public const string HeadFileName = ArtifactPaths.TunedHeadFile;

    /// <summary>ORT's intra-op threads: one per core. Runs on one machine compare bitwise (the kill test
    /// relies on it); another core count may round differently.</summary>
    private const int Threads = 0;

    public static FineTuneOutcome Run(PipelineConfig config, IndexDb db, CancellationToken ct = default)
    {
        var extract = ExtractReport.Read(config);
        var headPath = ArtifactPaths.Head(config);
        var baseHead = HeadArtifact.Load(headPath, extract.Fingerprint);
        var ft = config.FineTune;
        var inputsHash = TunedNetworkInputsHash.Hash(ft, baseHead.InputsHash, extract.InputsHash);
        var directory = ArtifactPaths.FineTuneDirectory(config);
        if (UpToDate(config, inputsHash) is { } current)
            return new FineTuneOutcome(true, current, null, $"FineTune: up to date ({current.Trainable}, validation accuracy {100 * current.ValidationAccuracy:0.0}%)");

        var spec = BackboneFactory.Resolve(config);
        if (spec.Fingerprint != extract.Fingerprint)
            throw new InputException($"the backbone in {config.SourcePath} (fingerprint {spec.Fingerprint}) is not the one Extract last ran ({extract.Fingerprint}). Run the pipeline first (make fine-tune runs Extract and TrainHead).");
        var model = LoadModel(spec.ModelPath);
        var depth = Depth(ft.Trainable);
        var trainable = ConfigLoader.ValueName(ft.Trainable);
        var (region, step, forward) = BuildGraphs(config, spec, model, depth, baseHead.LabelNames.Length);

        var labels = baseHead.LabelNames;
        var train = SplitExamples.Of(config, db, "train", labels);
        var validation = SplitExamples.Of(config, db, "validation", labels);
        if (train.Count == 0) throw new InputException($"the train split of {db.Path} is empty: nothing to fine-tune on. Run TrainHead first (make train-head), which says why.");

        var summary = new FineTuneSummary
        {
            Trainable = trainable,
            CutTensor = region.CutTensor,
            CutShape = region.CutShape,
            TrainImages = train.Count,
            ValidationImages = validation.Count,
        };
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(directory);
        // A manifest from other inputs goes first: from here on the files it names are being replaced.
        if (File.Exists(ArtifactPaths.TunedManifest(config))) File.Delete(ArtifactPaths.TunedManifest(config));

        // Read before the live progress starts, so its one line about a discarded checkpoint stands on its own.
        var (resumed, discarded) = Checkpoint.TryLoad(ArtifactPaths.FineTuneCheckpoint(config), inputsHash, ft.Patience, config.Workspace);
        if (discarded is not null) Console.WriteLine(discarded);

        var state = FineTuneProgress.Run(report =>
        {
            var tensors = new ViewTensors(spec, config);
            ActivationSource trainSource, validationSource;
            if (depth == TrainableDepth.All || region.CutTensor == spec.InputName)
            {
                (trainSource, validationSource) = (new FreshViews(train, tensors), new FreshViews(validation, tensors));
            }
            else
            {
                var prefix = spec with { BottleneckTensor = region.CutTensor, Dimension = (int)region.CutShape.Skip(1).Aggregate(1L, (p, d) => p * d) };
                var fingerprint = PrefixCache.Fingerprint(spec.Fingerprint, region.CutTensor, ft.Augment, ft.Seed);
                var wanted = train.SelectMany(e => Enumerable.Range(0, ft.Augment.Views).Select(v => new ExampleView(e, v)))
                    .Concat(validation.Select(e => new ExampleView(e, 0))).ToList();
                var prefixClock = Stopwatch.StartNew();
                summary.PrefixComputed = PrefixCache.Fill(prefix, tensors, config.CacheDir, fingerprint, wanted, (done, total) => report("frozen prefix", done, total, done), ct);
                summary.PrefixReused = wanted.Count - summary.PrefixComputed;
                summary.PrefixSeconds = prefixClock.Elapsed.TotalSeconds;
                summary.PrefixFingerprint = fingerprint;
                summary.PrefixBytesPerView = prefix.Dimension * 2L;
                var cache = PrefixCache.Load(config.CacheDir, fingerprint, wanted);
                (trainSource, validationSource) = (new CachedActivations(train, cache, ft.Augment.Views), new CachedActivations(validation, cache, 1));
            }

            using var session = TrainingSession.Create(step, forward, baseHead.Head, n => Optimizer.Create(ft.Optimizer, ft.PeakLearningRate, ft.Momentum, n), Threads,
                MicroBatching.For(depth));
            summary.TrainableWeights = session.Weights.LongLength - baseHead.Weights.Length - baseHead.Bias.Length;
            // Building the graphs and sessions left hundreds of MB of protobuf copies behind: gone
            // before training starts, they stay out of the run's peak memory.
            System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect();
            // The warm start, scored before any step: TrainHead's head on the original backbone.
            (summary.StartValidationLoss, summary.StartValidationAccuracy) = FineTuneTrainer.Score(session, validationSource, ft.BatchSize, labels.Length, ct);
            var checkpointPath = ArtifactPaths.FineTuneCheckpoint(config);
            var start = ft.L2Sp > 0 ? session.Weights.ToArray() : null; // l2_sp's anchor: the weights before any step
            if (resumed is not null) FineTuneTrainer.Restore(session, resumed);
            summary.ResumedAfterEpoch = resumed?.EpochsDone ?? 0;
            var state = resumed ?? FineTuneTrainer.Start(session, inputsHash, ft.Patience);
            var trainingClock = Stopwatch.StartNew();
            FineTuneTrainer.Train(session, trainSource, validationSource, ft, state, s =>
                {
                    Checkpoint.Save(checkpointPath, s);
                    var r = s.Log[^1];
                    Spectre.Console.AnsiConsole.WriteLine(FormattableString.Invariant(
                        $"epoch {r.Epoch}/{ft.Epochs}: train loss {r.TrainLoss:0.000} accuracy {100 * r.TrainAccuracy:0.0}%, validation loss {r.ValidationLoss:0.000} accuracy {100 * r.ValidationAccuracy:0.0}%, {r.Seconds:0} s ({r.ImagesPerSecond:0.0} img/s)"));
                },
                p => report($"epoch {p.Epoch}/{p.Epochs}", p.StepsDone, p.StepsPerEpoch, p.ImagesDone), ct, start);
            summary.TrainingSeconds = trainingClock.Elapsed.TotalSeconds;
            state.BestWeights.CopyTo(session.Weights, 0);
            return (state, Trained: session.Parameters.ToDictionary(p => p.Name, p => session.WeightsOf(p.Name).ToArray()));
        });

        ct.ThrowIfCancellationRequested();
        var (final, trained) = state;
        var headWeights = trained[SoftmaxCrossEntropy.HeadWeight];
        var headBias = trained[SoftmaxCrossEntropy.HeadBias];
        trained.Remove(SoftmaxCrossEntropy.HeadWeight);
        trained.Remove(SoftmaxCrossEntropy.HeadBias);

        var backbonePath = Path.Combine(directory, TunedBackboneWriter.FileName);
        var backboneSha256 = TunedBackboneWriter.Write(model, trained, backbonePath);
        var tunedSpec = TunedBackbone.Resolve(config, spec, backbonePath);
        var best = final.Log.FirstOrDefault(r => r.Epoch == final.BestEpoch);
        var head = new HeadArtifact
        {
            LabelNames = labels,
            Dimension = baseHead.Dimension,
            Weights = headWeights,
            Bias = headBias,
            BackboneName = baseHead.BackboneName,
            BackboneFingerprint = tunedSpec.Fingerprint,
            TrainingConfigJson = HeadArtifact.ConfigJson(ft),
            InputsHash = inputsHash,
            Metrics = new HeadMetrics
            {
                TrainLoss = best?.TrainLoss ?? double.NaN,
                TrainAccuracy = best?.TrainAccuracy ?? double.NaN,
                ValidationLoss = best?.ValidationLoss ?? double.NaN,
                ValidationAccuracy = best?.ValidationAccuracy ?? double.NaN,
                BestStep = best?.Step ?? 0,
                StepsRun = final.Log.Count == 0 ? 0 : final.Log[^1].Step,
                StepsPlanned = ft.Epochs * ((train.Count + ft.BatchSize - 1) / ft.BatchSize),
                StoppedEarly = final.StoppedEarly,
            },
        };
        var headSha256 = head.Save(Path.Combine(directory, HeadFileName));

        summary.Seconds = clock.Elapsed.TotalSeconds;
        summary.PeakMemoryMb = System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64 / (double)(1 << 20); // VmHWM on Linux
        summary.Log = final.Log;
        summary.BestEpoch = final.BestEpoch;
        summary.StoppedEarly = final.StoppedEarly;
        summary.BackboneFingerprint = tunedSpec.Fingerprint;
        FineTuneReportWriter.Write(config, summary);

        var manifest = new TunedNetworkManifest(TunedNetworkManifest.CurrentFormat, TunedBackboneWriter.FileName, HeadFileName, spec.Fingerprint, tunedSpec.Fingerprint,
            trainable, inputsHash, final.EpochsDone, best?.ValidationAccuracy ?? double.NaN)
        { BaseHeadInputsHash = baseHead.InputsHash, BackboneSha256 = backboneSha256, HeadSha256 = headSha256 };
        manifest.Save(config);
        File.Delete(ArtifactPaths.FineTuneCheckpoint(config)); // the manifest now holds the result; the checkpoint is spent

        var rate = final.Log.Count(r => r.Epoch > summary.ResumedAfterEpoch) is > 0 and var ran
            ? final.Log.Where(r => r.Epoch > summary.ResumedAfterEpoch).Average(r => r.ImagesPerSecond) : 0;
        var line = FormattableString.Invariant(
            $"FineTune: {trainable} from '{region.CutTensor}', {train.Count} train / {validation.Count} validation images, {final.EpochsDone} epochs ") +
            FormattableString.Invariant($"({rate:0.0} img/s), best epoch {final.BestEpoch}, validation accuracy {100 * (best?.ValidationAccuracy ?? double.NaN):0.0}% ") +
            FormattableString.Invariant($"(head only {100 * summary.StartValidationAccuracy:0.0}%); {ArtifactPaths.TunedManifest(config)}");
        return new FineTuneOutcome(false, manifest, summary, line);
    }

    /// <summary>The training engine's name for fine_tune.trainable's part of the backbone.</summary>
    internal static TrainableDepth Depth(TrainablePart part) => part switch
    {
        TrainablePart.LastStage => TrainableDepth.LastStage,
        TrainablePart.LastTwoStages => TrainableDepth.LastTwoStages,
        TrainablePart.All => TrainableDepth.All,
        _ => throw new ArgumentOutOfRangeException(nameof(part), part, "not a fine_tune.trainable value"),
    };

    /// <summary>The manifest when it records these inputs and its checksum, and the backbone's and head's checksums it
    /// records, vouch for what is on disk; otherwise null, with one line when something failed its checksum (it is
    /// fine-tuned again, so the advice to re-run FineTune that Evaluate gives about a damaged file does not loop).</summary>
    private static TunedNetworkManifest? UpToDate(PipelineConfig config, string inputsHash)
    {
        try
        {
            if (TunedNetworkManifest.TryLoad(config) is not { } m || m.InputsHash != inputsHash || !File.Exists(FineTuneReportWriter.PathIn(config))) return null;
            m.VerifyFiles(config);
            return m;
        }
        catch (DamagedArtifactException e)
        {
            Console.WriteLine(e.RepairLine("fine-tune", config.Workspace, "fine-tuning again"));
            return null;
        }
    }

    private static ModelProto LoadModel(string path)
    {
        using var stream = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(stream);
    }

    /// <summary>
    /// The trainable region and its step and scoring graphs, built before any image is touched: an op
    /// the engine cannot differentiate is a config error (exit 2) naming it, never a failure mid-epoch.
    /// </summary>
    internal static (TrainableRegion Region, TrainingGraph Step, TrainingGraph Forward) BuildGraphs(PipelineConfig config, BackboneSpec spec, ModelProto model, TrainableDepth depth, int classes)
    {
        long[] imageShape = spec.Layout == TensorLayout.Nchw ? [1, 3, spec.InputSize, spec.InputSize] : [1, spec.InputSize, spec.InputSize, 3];
        try
        {
            var stages = BackboneStages.Find(model, spec.InputName, imageShape, spec.BottleneckTensor);
            var region = stages.Region(depth);
            var loss = new SoftmaxCrossEntropy(classes);
            return (region, TrainingGraphBuilder.Build(region, loss), TrainingGraphBuilder.Build(region, loss, backward: false));
        }
        catch (InvalidDataException e)
        {
            throw new ConfigException($"fine_tune.trainable = '{ConfigLoader.ValueName(config.FineTune.Trainable)}' in {config.SourcePath}: " +
                                      $"the backbone {spec.ModelPath} cannot be trained: {e.Message}.");
        }
    }
}
