using System.Globalization;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.Quantization;
using BottleneckPipeline.TrainHead;
using BottleneckPipeline.Training;
using Google.Protobuf;

namespace BottleneckPipeline.Bench;

/// <summary>
/// INT8_BENCH=calibration (only when named): the validation accuracy of the head TrainHead would train
/// on each int8 variant's vectors (TrainHead's own trainer and settings), beside float32's, and the
/// vectors' cosine with float32 on train + validation. The test split is never read: the rule
/// is to choose on validation and score the test split once, after choosing (the pipeline part does).
/// Each sample size is calibrated once; its variants are quantized from the same statistics.
/// </summary>
internal static class Int8CalibrationSweep
{
    private const string Area = "int8 calibration";

    private static readonly (string Label, int Images, CalibrationChoice Calibration, bool FloatStem)[] Variants =
    [
        ("min-max, 200 images", 200, new(CalibrationMethod.MinMax), false),
        ("percentile 99.99, 200 images", 200, new(CalibrationMethod.Percentile, 99.99), false),
        ("percentile 99.999, 200 images (the default)", 200, new(CalibrationMethod.Percentile, 99.999), false),
        ("percentile 99.999, 200 images, float32 stem", 200, new(CalibrationMethod.Percentile, 99.999), true),
        ("min-max, 500 images", 500, new(CalibrationMethod.MinMax), false),
    ];

    public static void Run(BenchContext ctx, string root, string floatConfig)
    {
        var config = ConfigLoader.Load(floatConfig);
        var spec = BackboneFactory.Resolve(config);
        var cacheDir = Path.Combine(root, "sweep-cache");
        config.Cache.Dir = cacheDir; // its own cache: SplitVectors reads the sweep's vectors from it
        using var db = IndexDb.Open(config.IndexPath, create: false);
        var works = Members(db, config.Dataset.Root);
        var reference = Embed(spec, "float32", works, cacheDir, config);
        var (floatAccuracy, floatCount) = Validation(config, db, "float32");
        ctx.Record(Area, "sweep: float32 head validation accuracy", 100 * floatAccuracy, "%",
            $"{Math.Round(floatAccuracy * floatCount)}/{floatCount} validation images");

        var optimized = FloatGraph.Optimized(spec);
        foreach (var group in Variants.GroupBy(v => v.Images))
        {
            var sample = QuantizedBackbone.CalibrationSample(db, config.Dataset.Root, group.Key);
            var statistics = Calibrator.Statistics(spec, optimized, QdqPlan.For(optimized.Graph, spec.BottleneckTensor), sample, config.Dataset.MaxPixels,
                histograms: true, CancellationToken.None);
            foreach (var (label, _, calibration, floatStem) in group)
            {
                var recipe = QuantizedBackbone.Recipe with { FloatStem = floatStem };
                var model = optimized.Clone();
                var plan = QdqPlan.For(model.Graph, spec.BottleneckTensor, floatStem);
                QuantizedBackbone.Quantize(model, plan,
                    plan.Tensors.ToDictionary(t => t, t => statistics[t].Range(calibration.Method, percentileTail: calibration.Tail)), recipe);
                var key = $"sweep-{Sanitize(label)}";
                var path = Path.Combine(root, "models", key + ".onnx");
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, model.ToByteArray());
                var vectors = Embed(QuantizedBackbone.Int8Spec(spec, path, key), key, works, cacheDir, config);
                var (accuracy, count) = Validation(config, db, key);
                var cosines = vectors.Select(kv => (double)System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(kv.Value, reference[kv.Key])).ToList();
                ctx.Record(Area, $"sweep: int8 {label}: head validation accuracy", 100 * accuracy, "%", string.Create(CultureInfo.InvariantCulture,
                    $"{Math.Round(accuracy * count)}/{count}, {100 * (accuracy - floatAccuracy):+0.0;-0.0;0.0} points vs float32; " +
                    $"vector cosine with float32 mean {cosines.Average():0.0000}, min {cosines.Min():0.0000}"));
            }
        }
    }

    private static (double Accuracy, int Count) Validation(PipelineConfig config, IndexDb db, string fingerprint)
    {
        var (train, validation) = new SplitVectors(config, db, fingerprint).TrainAndValidation();
        var result = HeadTrainer.Train(train, validation, config.TrainHead);
        return (result.Validation.Accuracy, validation.Count);
    }

    /// <summary>The train and validation images (the test split is left alone).</summary>
    private static List<ImageWork> Members(IndexDb db, string root)
    {
        var works = new List<ImageWork>();
        using var cmd = db.Command(
            "SELECT content_id, MIN(rel_path) FROM examples WHERE split IN ('train', 'validation') AND conflict = 0 GROUP BY content_id ORDER BY content_id;");
        using var r = cmd.ExecuteReader();
        while (r.Read()) works.Add(new ImageWork(r.GetString(0), Path.Combine(root, r.GetString(1).Replace('/', Path.DirectorySeparatorChar)), r.GetString(1)));
        return works;
    }

    private static Dictionary<string, float[]> Embed(BackboneSpec spec, string fingerprint, List<ImageWork> works, string cacheDir, PipelineConfig config)
    {
        const int batchSize = 8;
        using var session = BackboneSession.Create(spec, threads: 0);
        var preparer = new ImagePreparer(spec, config.Dataset.MaxPixels);
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
        using var writer = new CacheWriter(cacheDir, fingerprint, VectorPrecision.Float32);
        var input = new float[batchSize * spec.ValuesPerImage];
        var output = Array.Empty<float>();
        for (var start = 0; start < works.Count; start += batchSize)
        {
            var batch = works.Skip(start).Take(batchSize).ToList();
            Parallel.For(0, batch.Count, i =>
            {
                if (preparer.Prepare(batch[i], input.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage)) is { } failure)
                    throw new InvalidOperationException($"{batch[i].RelPath}: {failure}");
            });
            session.Run(input, batch.Count, ref output);
            for (var i = 0; i < batch.Count; i++)
            {
                var vector = output.AsSpan(i * session.Dimension, session.Dimension).ToArray();
                writer.Append(batch[i].ContentId, vector);
                result[batch[i].ContentId] = vector;
            }
        }
        writer.Commit();
        return result;
    }

    private static string Sanitize(string s) => new([.. s.Where(c => char.IsLetterOrDigit(c) || c is '.' or ' ').Select(c => c == ' ' ? '-' : c)]);
}
