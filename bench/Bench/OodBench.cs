using System.Diagnostics;
using System.Security.Cryptography;
using BottleneckPipeline.Audit;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Confidence;
using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.Reporting;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.TrainHead;
using BottleneckPipeline.Training;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace BottleneckPipeline.Bench;

/// <summary>
/// Confidence a user can act on, on the flowers and the same ResNet-18 vectors:
/// calibration (one temperature fitted on validation; ECE with 15 bins on test before and after; the same out of
/// fold on every labelled photo, for the default head and for an over-confident one);
/// far OOD (seeded renders of shapes, text, noise and blur against the test split) for MSP, energy,
/// kNN (k = 10, cosine) and the shipped relative Mahalanobis; near OOD, leave-one-class-out (a head
/// and every score fitted on four classes, the fifth class's 300 photos scored against the four
/// classes' test photos); and what the unknown check costs per image beside the backbone.
/// Runs Ingest, Extract and TrainHead into bench/out/ood (about two minutes of extraction from clean).
/// </summary>
public sealed class OodBench : IBenchmark
{
    public string Name => "ood";
    private const int FarImages = 400, FarSeed = 7;

    public void Run(BenchContext context)
    {
        var root = Path.Combine(context.WorkDir, "ood");
        Directory.CreateDirectory(root);
        var configPath = Path.Combine(root, "pipeline.yaml");
        File.WriteAllText(configPath, $"dataset:\n  root: {context.Flowers}\nworkspace: {root}/workspace\n");
        foreach (var stage in new[] { "Ingest", "Extract", "TrainHead" })
        {
            var run = BenchContext.RunProcess(context.StageBin(stage), $"--config \"{configPath}\"");
            if (run.ExitCode != 0) throw new InvalidOperationException($"{stage} failed ({run.ExitCode}): {run.Output}");
        }
        var config = ConfigLoader.Load(configPath);
        LabelledVectors train, validation, test;
        using (var db = IndexDb.Open(config.IndexPath, create: false))
        {
            var sets = SplitVectors.Open(config, db).Load(["train", "validation", "test"]);
            (train, validation, test) = (sets[0], sets[1], sets[2]);
        }
        var head = HeadArtifact.Load(Artifacts.ArtifactPaths.Head(config)).Head;

        Calibrate(context, root, head, validation, test);
        CrossValidatedCalibration(context, config.TrainHead, "", train, validation, test);
        // A head that is overconfident on purpose (trained to the end, no L2, no early stopping): what one temperature
        // does where there is miscalibration to remove.
        var overfit = new TrainHeadConfig { Steps = 10_000, L2 = 0, Patience = 0, Seed = config.TrainHead.Seed };
        CrossValidatedCalibration(context, overfit, "a head trained 10,000 steps without L2 or early stopping (last weights kept), ", train, validation, test);
        var farPaths = OodImages.Write(Path.Combine(root, "far"), FarImages, FarSeed);
        var far = ImageEmbedder.Embed(config, farPaths).Select(e => e.Vector ?? throw new InvalidOperationException($"{e.Path}: {e.Error}")).ToList();
        var scorer = Far(context, head, train, validation, test, far, farPaths);
        Near(context, config, train, validation, test);
        Cost(context, config, scorer, test);
    }

    private static double[] Msp(SoftmaxHead head, IEnumerable<float[]> rows) =>
        [.. rows.Select(r => BaselineScores.MaxSoftmax(TemperatureScaling.Logits(head, r)))];

    private static double[] Energy(SoftmaxHead head, IEnumerable<float[]> rows) =>
        [.. rows.Select(r => BaselineScores.Energy(TemperatureScaling.Logits(head, r)))];

    private void Calibrate(BenchContext context, string root, SoftmaxHead head, LabelledVectors validation, LabelledVectors test)
    {
        var validationLogits = validation.Rows.Select(r => TemperatureScaling.Logits(head, r)).ToList();
        var testLogits = test.Rows.Select(r => TemperatureScaling.Logits(head, r)).ToList();
        var t = TemperatureScaling.Fit(validationLogits, validation.Labels);
        List<float[]> P(List<float[]> logits, double temperature) => [.. logits.Select(l => TemperatureScaling.Probabilities(l, temperature))];
        var before = Calibration.Reliability(P(testLogits, 1), test.Labels);
        var after = Calibration.Reliability(P(testLogits, t), test.Labels);
        var (eceBefore, eceAfter) = (Calibration.ExpectedCalibrationError(before), Calibration.ExpectedCalibrationError(after));
        var valBefore = Calibration.ExpectedCalibrationError(P(validationLogits, 1), validation.Labels);
        var valAfter = Calibration.ExpectedCalibrationError(P(validationLogits, t), validation.Labels);
        var floor = Calibration.SamplingFloor([.. P(testLogits, t).Select(p => (double)p.Max())]);
        var testAccuracy = testLogits.Where((l, i) => Array.IndexOf(l, l.Max()) == test.Labels[i]).Count() / (double)test.Count;
        var validationAccuracy = validationLogits.Where((l, i) => Array.IndexOf(l, l.Max()) == validation.Labels[i]).Count() / (double)validation.Count;
        var meanConfidence = P(testLogits, t).Average(p => p.Max());
        context.Record(Name, "calibration: temperature fitted on validation", t, "",
            $"validation NLL {TemperatureScaling.NegativeLogLikelihood(validationLogits, validation.Labels, 1):0.0000} at T=1 -> " +
            $"{TemperatureScaling.NegativeLogLikelihood(validationLogits, validation.Labels, t):0.0000}");
        var met = eceAfter <= eceBefore / 2 && eceAfter < 0.03;
        context.Record(Name, "calibration: test ECE before (T=1)", eceBefore, "", $"{test.Count} test images, 15 bins");
        context.Record(Name, "calibration: test ECE after", eceAfter, "",
            $"goal <= half of before ({eceBefore / 2:0.000}) and < 0.03: {(met ? "met" : "NOT met")}; a perfectly calibrated model shows {floor:0.000} " +
            $"on {test.Count} images (sampling floor); test accuracy {testAccuracy:P1}, mean confidence {meanConfidence:P1}");
        context.Record(Name, "calibration: validation ECE before -> after", valAfter, "",
            $"before {valBefore:0.000}; validation accuracy {validationAccuracy:P1} vs test {testAccuracy:P1}");
        ReliabilityDiagram.WritePlot(Path.Combine(root, "reliability.png"), before, after, t);
    }

    /// <summary>
    /// The same temperature method measured on every labelled photo instead of the 149 of the test split: the photos
    /// are dealt into 10 folds (stratified, seeded); each fold is scored by a head trained on 8 of the others and
    /// stopped early on the 9th, whose temperature is fitted on that 9th fold, as the pipeline fits it on validation.
    /// The pooled held-out ECE has a sampling floor a third of the test split's, so it shows what calibration does
    /// rather than which 149 photos were drawn.
    /// </summary>
    private void CrossValidatedCalibration(BenchContext context, TrainHeadConfig settings, string which, LabelledVectors train,
        LabelledVectors validation, LabelledVectors test)
    {
        const int folds = 10;
        var all = AuditStage.Combine([train, validation, test]).All;
        var fold = OutOfFold.AssignFolds(all.Labels, all.ClassCount, folds, settings.Seed);
        var heldOutLogits = new float[all.Count][];
        var temperatures = new double[folds];
        OutOfFold.ForEachFold(all, fold, folds, Environment.ProcessorCount, (f, heldOut, foldTrain, foldStop) =>
        {
            // Without early stopping the trainer is given no validation split, so it keeps its last weights.
            var stopSplit = settings.Patience > 0 ? foldStop : null;
            var head = HeadTrainer.Train(foldTrain, stopSplit, settings, new HeadTrainingOptions { MaxDegreeOfParallelism = 1 }).Head;
            temperatures[f] = TemperatureScaling.Fit([.. foldStop.Rows.Select(r => TemperatureScaling.Logits(head, r))], foldStop.Labels);
            var x = new float[all.Dimension];
            foreach (var i in heldOut)
            {
                all.Vectors.CopyRow(i, x);
                heldOutLogits[i] = TemperatureScaling.Logits(head, x);
            }
        });
        List<float[]> P(Func<int, double> temperature) => [.. heldOutLogits.Select((l, i) => TemperatureScaling.Probabilities(l, temperature(i)))];
        var before = P(_ => 1);
        var after = P(i => temperatures[fold[i]]);
        var (eceBefore, eceAfter) = (Calibration.ExpectedCalibrationError(before, all.Labels), Calibration.ExpectedCalibrationError(after, all.Labels));
        var floor = Calibration.SamplingFloor([.. after.Select(p => (double)p.Max())]);
        var accuracy = before.Where((p, i) => Array.IndexOf(p, p.Max()) == all.Labels[i]).Count() / (double)all.Count;
        var met = eceAfter <= eceBefore / 2 && eceAfter < 0.03;
        context.Record(Name, $"calibration, {which}{folds}-fold on all {all.Count} photos: held-out ECE before (T=1)", eceBefore, "",
            $"each fold scored by a head trained on 8 folds{(settings.Patience > 0 ? " and stopped on the 9th" : "")}; held-out accuracy {accuracy:P1}, " +
            $"mean confidence {before.Average(p => p.Max()):P1}");
        context.Record(Name, $"calibration, {which}{folds}-fold on all {all.Count} photos: held-out ECE after", eceAfter, "",
            $"goal <= half of before ({eceBefore / 2:0.000}) and < 0.03: {(met ? "met" : "NOT met")}; each fold's temperature fitted on its 9th fold, " +
            $"{temperatures.Min():0.000}-{temperatures.Max():0.000}; a perfectly calibrated model shows {floor:0.000} on {all.Count} photos (sampling floor)");
    }

    private RelativeMahalanobis Far(BenchContext context, SoftmaxHead head, LabelledVectors train, LabelledVectors validation, LabelledVectors test,
        List<float[]> far, IReadOnlyList<string> farPaths)
    {
        var knn = new KnnCosineScore(train.Rows, 10);
        var sw = Stopwatch.StartNew();
        var scorer = RelativeMahalanobis.Fit(train);
        var fitSeconds = sw.Elapsed.TotalSeconds;
        scorer = scorer.WithThreshold(scorer.Scores(validation));
        var scores = new (string Name, Func<IEnumerable<float[]>, double[]> Score)[]
        {
            ("MSP", rows => Msp(head, rows)),
            ("energy", rows => Energy(head, rows)),
            ("kNN k=10 cosine", rows => [.. rows.Select(r => knn.Score(r))]),
            ("ours: relative Mahalanobis", rows => scorer.Scores(rows)),
        };
        var kinds = farPaths.Select(p => Path.GetFileName(p).Split('_')[0]).ToArray();
        double mspAuroc = 0;
        foreach (var (name, score) in scores)
        {
            var (sIn, sVal, sFar) = (score(test.Rows), score(validation.Rows), score(far));
            var threshold = OodMetrics.Threshold(sVal, 0.95);
            var (auroc, flagged) = (OodMetrics.Auroc(sIn, sFar), OodMetrics.FlaggedShare(sFar, threshold));
            var kept = 1 - OodMetrics.FlaggedShare(sIn, threshold);
            var perKind = string.Join(", ", kinds.Distinct().Select(k =>
            {
                double[] ofKind = [.. sFar.Where((_, i) => kinds[i] == k)];
                return $"{k} {OodMetrics.Auroc(sIn, ofKind):0.000}/{OodMetrics.FlaggedShare(ofKind, threshold):P0}";
            }));
            if (name == "MSP") mspAuroc = auroc;
            var goal = name.StartsWith("ours", StringComparison.Ordinal)
                ? $"; goal AUROC >= 0.99 and flags >= 95%: {(auroc >= 0.99 && flagged >= 0.95 ? "met" : "NOT met")}; " +
                  $"MSP AUROC {mspAuroc:0.000} ({auroc / mspAuroc:0.00}x)"
                : "";
            context.Record(Name, $"far: {name} AUROC", auroc, "",
                $"flags {flagged:P1} of {far.Count} far images at the validation threshold (keeps {kept:P1} of test flowers); " +
                $"FPR@95TPR {OodMetrics.FprAt95Tpr(sIn, sFar):0.000}; per kind AUROC/flagged: {perKind}{goal}");
        }
        context.Note(Name, $"far set: {far.Count} seeded renders (OodImages seed {FarSeed}: shapes, text, noise, blur, 256 px PNG) " +
            $"against {test.Count} test flowers; thresholds keep 95% of {validation.Count} validation flowers; " +
            $"relative Mahalanobis fitted on {train.Count} train vectors in {fitSeconds:0.00} s, " +
            $"stored form {scorer.StoredBytes / 1e6:0.00} MB (2 d^2 + (K+1) d floats)");
        return scorer;
    }

    private static LabelledVectors Without(LabelledVectors set, int left, string[] names)
    {
        var keep = Enumerable.Range(0, set.Count).Where(i => set.Labels[i] != left).ToArray();
        return new LabelledVectors([.. keep.Select(i => set.Rows[i])], [.. keep.Select(i => set.Labels[i] > left ? set.Labels[i] - 1 : set.Labels[i])], names,
            [.. keep.Select(i => set.ContentIds[i])], [.. keep.Select(i => set.RelativePaths[i])]);
    }

    private void Near(BenchContext context, PipelineConfig config, LabelledVectors train, LabelledVectors validation, LabelledVectors test)
    {
        var names = train.LabelNames;
        var results = new List<(string Class, double Msp, double Energy, double Knn, double Ours, double Plain, double Blend)>();
        for (var left = 0; left < names.Length; left++)
        {
            string[] known = [.. names.Where((_, i) => i != left)];
            var (tr, va, te) = (Without(train, left, known), Without(validation, left, known), Without(test, left, known));
            var unknown = new[] { train, validation, test }
                .SelectMany(s => Enumerable.Range(0, s.Count).Where(i => s.Labels[i] == left).Select(i => s.Rows[i])).ToList();
            var head = HeadTrainer.Train(tr, va, config.TrainHead).Head;
            var knn = new KnnCosineScore(tr.Rows, 10);
            var scorer = RelativeMahalanobis.Fit(tr);
            double A(Func<IEnumerable<float[]>, double[]> s) => OodMetrics.Auroc(s(te.Rows), s(unknown));
            var blend = Blend(va.Rows, scorer.Scores, r => Msp(head, r));
            results.Add((names[left], A(r => Msp(head, r)), A(r => Energy(head, r)), A(r => [.. r.Select(v => knn.Score(v))]), A(scorer.Scores),
                A(r => [.. r.Select(v => scorer.ClassDistance(v))]), A(blend)));
            var last = results[^1];
            context.Record(Name, $"near: {names[left]} left out, ours AUROC", last.Ours, "",
                $"MSP {last.Msp:0.000}, energy {last.Energy:0.000}, kNN {last.Knn:0.000}, class Mahalanobis {last.Plain:0.000}, " +
                $"ours + MSP {last.Blend:0.000}; {unknown.Count} {names[left]} photos vs {te.Count} test photos " +
                $"of 4 classes (head test accuracy {head.Accuracy(te):P1})");
        }
        var (msp, energy) = (results.Average(r => r.Msp), results.Average(r => r.Energy));
        var (knnMean, ours) = (results.Average(r => r.Knn), results.Average(r => r.Ours));
        context.Record(Name, "near: mean AUROC over 5 classes left out, ours", ours, "",
            $"goal >= 0.85: {(ours >= 0.85 ? "met" : "NOT met")}; MSP {msp:0.000} ({ours / msp:0.00}x), energy {energy:0.000}, kNN {knnMean:0.000}, " +
            $"class-conditional Mahalanobis without the background term {results.Average(r => r.Plain):0.000}, " +
            $"ours + MSP (each standardised on validation, summed) {results.Average(r => r.Blend):0.000}");
    }

    /// <summary>The sum of two scores, each standardised by its mean and spread on the in-class validation rows.</summary>
    private static Func<IEnumerable<float[]>, double[]> Blend(IReadOnlyList<float[]> validation, params Func<IEnumerable<float[]>, double[]>[] scores)
    {
        var scales = scores.Select(s =>
        {
            var v = s(validation);
            var mean = v.Average();
            return (Mean: mean, Spread: Math.Sqrt(v.Average(x => (x - mean) * (x - mean))) + 1e-12);
        }).ToArray();
        return rows =>
        {
            var list = rows.ToList();
            var sum = new double[list.Count];
            for (var k = 0; k < scores.Length; k++)
            {
                var v = scores[k](list);
                for (var i = 0; i < sum.Length; i++) sum[i] += (v[i] - scales[k].Mean) / scales[k].Spread;
            }
            return sum;
        };
    }

    private void Cost(BenchContext context, PipelineConfig config, RelativeMahalanobis scorer, LabelledVectors test)
    {
        var spec = BackboneFactory.Resolve(config);
        // The exported model's two forms, backbone -> bottleneck with and without the unknown subgraph,
        // timed one image at a time, interleaved, on the same prepared tensors.
        var (plainBytes, _) = BackboneSession.EditedModel(spec, makeBatchDynamic: true);
        var withScore = ModelProto.Parser.ParseFrom(plainBytes);
        UnknownScoreGraph.Append(withScore, spec.BottleneckTensor, scorer);
        var withBytes = withScore.ToByteArray();
        var preparer = new ImagePreparer(spec, config.Dataset.MaxPixels);
        var inputs = test.RelativePaths.Take(16).Select((rel, i) =>
        {
            var path = Path.Combine(config.Dataset.Root, rel);
            var tensor = new float[spec.ValuesPerImage];
            var failure = preparer.Prepare(new ImageWork(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))), path, rel), tensor);
            return failure is null ? tensor : throw new InvalidOperationException($"{rel}: {failure.Reason}");
        }).ToList();
        using var options = BackboneSession.Options(Math.Min(2, Environment.ProcessorCount));
        using var plain = new InferenceSession(plainBytes, options);
        using var scored = new InferenceSession(withBytes, options);
        var s = spec.InputSize;
        double RunAll(InferenceSession session, string[] outputs)
        {
            var sw = Stopwatch.StartNew();
            foreach (var input in inputs)
            {
                using var value = OrtValue.CreateTensorValueFromMemory(input, [1, 3, s, s]);
                using var r = session.Run(new RunOptions(), [spec.InputName], [value], outputs);
            }
            return sw.Elapsed.TotalMilliseconds / inputs.Count;
        }
        string[] plainOut = [spec.BottleneckTensor], scoredOut = [spec.BottleneckTensor, UnknownScoreGraph.ScoreOutput, UnknownScoreGraph.FlagOutput];
        RunAll(plain, plainOut);
        RunAll(scored, scoredOut);
        var rounds = context.Quick ? 3 : 7;
        var a = new List<double>();
        var b = new List<double>();
        for (var round = 0; round < 2 * rounds; round++)
        {
            // Alternate which runs first: the second of a pair pays for whatever the first left behind.
            if (round % 2 == 0)
            {
                a.Add(RunAll(plain, plainOut));
                b.Add(RunAll(scored, scoredOut));
            }
            else
            {
                b.Add(RunAll(scored, scoredOut));
                a.Add(RunAll(plain, plainOut));
            }
        }
        double Median(List<double> x) => x.Order().ElementAt(x.Count / 2);
        var (backboneMs, scoredMs) = (Median(a), Median(b));

        // The subgraph alone, on bottleneck vectors: what the extra outputs add, free of the backbone's jitter.
        var alone = new ModelProto { IrVersion = 3 };
        alone.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 8 });
        alone.Graph = new GraphProto { Name = "unknown_score_alone" };
        alone.Graph.Input.Add(new ValueInfoProto { Name = "v", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
        alone.Graph.Node.Add(new NodeProto { OpType = "Identity", Name = "id", Input = { "v" }, Output = { "bottleneck" } });
        UnknownScoreGraph.Append(alone, "bottleneck", scorer);
        using var aloneSession = new InferenceSession(alone.ToByteArray(), options);
        var vectors = test.Rows.Take(16).ToList();
        double RunAlone()
        {
            var sw = Stopwatch.StartNew();
            foreach (var v in vectors)
            {
                using var value = OrtValue.CreateTensorValueFromMemory(v, [1, v.Length, 1, 1]);
                using var r = aloneSession.Run(new RunOptions(), ["v"], [value], [UnknownScoreGraph.ScoreOutput, UnknownScoreGraph.FlagOutput]);
            }
            return sw.Elapsed.TotalMilliseconds / vectors.Count;
        }
        RunAlone();
        var aloneMs = Median([.. Enumerable.Range(0, 20).Select(_ => RunAlone())]);

        // The C# scorer on a cached vector (what predict does when it reads the cache).
        var rows = test.Rows;
        foreach (var r in rows) scorer.Score(r);
        var csw = Stopwatch.StartNew();
        var n = 0;
        while (csw.Elapsed.TotalMilliseconds < 500)
            foreach (var r in rows)
            {
                scorer.Score(r);
                n++;
            }
        var csharpMs = csw.Elapsed.TotalMilliseconds / n;
        context.Record(Name, "cost: backbone per image (ONNX Runtime, batch 1)", backboneMs, "ms",
            $"median of {2 * rounds} interleaved rounds (order alternating) of {inputs.Count} prepared test images, " +
            $"{Math.Min(2, Environment.ProcessorCount)} intra-op threads; " +
            "decoding not included");
        context.Record(Name, "cost: backbone + unknown subgraph per image", scoredMs, "ms",
            $"{(scoredMs / backboneMs - 1) * 100:+0.0;-0.0}% over the backbone (goal <= +10%: {(scoredMs <= backboneMs * 1.10 ? "met" : "NOT met")}); " +
            $"model +{(withBytes.Length - plainBytes.Length) / 1e6:0.00} MB; timed on a shared machine (load average in the heading)");
        context.Record(Name, "cost: unknown subgraph alone per image (ONNX Runtime)", aloneMs * 1000, "us",
            $"{aloneMs / backboneMs * 100:0.00}% of the backbone's time: what the score itself adds, without the backbone's run-to-run jitter");
        context.Record(Name, "cost: C# unknown score per cached vector", csharpMs * 1000, "us",
            $"{csharpMs / backboneMs * 100:0.00}% of the backbone's time; {n} scores timed");
    }
}
