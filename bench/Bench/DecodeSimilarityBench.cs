using System.Text.Json.Nodes;
using BottleneckPipeline.Cache;

namespace BottleneckPipeline.Bench;

/// <summary>
/// What decoding with libvips instead of ImageSharp changes. The whole pipeline
/// twice on the 1500 flowers, same split and seed: every image through ImageSharp, then every image
/// through libvips; the cosine of each image's two vectors and each head's test accuracy.
/// </summary>
public sealed class DecodeSimilarityBench : IBenchmark
{
    public string Name => "decode-similarity";

    public void Run(BenchContext ctx) => Similarity(ctx, ctx.Quick ? ExtractBench.Subset(ctx, 4) : ctx.Flowers);

    // ---- what libvips changes -----------------------------------------------------------------------

    /// <summary>The whole pipeline twice on the same photos and split: every image through ImageSharp,
    /// then every image through libvips; the cosine of each image's two vectors and each head's test accuracy.</summary>
    private static void Similarity(BenchContext ctx, string dataset)
    {
        var root = Path.Combine(ctx.WorkDir, "decode-similarity", "similarity");
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        var sharp = Pipeline(ctx, Path.Combine(root, "imagesharp"), dataset, "extract:\n  libvips_min_pixels: 0\n");
        var vips = Pipeline(ctx, Path.Combine(root, "libvips"), dataset, "extract:\n  libvips_min_pixels: 1\n");
        var a = BottleneckCache.Open(sharp.CacheDir, sharp.Fingerprint);
        var b = BottleneckCache.Open(vips.CacheDir, vips.Fingerprint);
        var cosines = new List<double>();
        var va = new float[a.Dimension];
        var vb = new float[b.Dimension];
        foreach (var id in sharp.ContentIds)
        {
            if (!a.TryGet(id, va) || !b.TryGet(id, vb)) continue;
            cosines.Add(System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(va, vb));
        }
        cosines.Sort();
        var n = cosines.Count;
        ctx.Record("decode-similarity", "vector cosine, libvips against ImageSharp: mean", cosines.Average(), "",
            $"{n} photos at their own size; min {cosines[0]:0.0000}, 1st percentile {cosines[n / 100]:0.0000}, median {cosines[n / 2]:0.0000}");
        ctx.Record("decode-similarity", "test accuracy, every photo decoded by ImageSharp", sharp.Accuracy * 100, "%", $"{sharp.TestImages} test images");
        ctx.Record("decode-similarity", "test accuracy, every photo decoded by libvips", vips.Accuracy * 100, "%",
            $"{(vips.Accuracy - sharp.Accuracy) * 100:+0.00;-0.00} points against ImageSharp, same split and seed");
    }

    private sealed record PipelineResult(string CacheDir, string Fingerprint, List<string> ContentIds, double Accuracy, int TestImages);

    private static PipelineResult Pipeline(BenchContext ctx, string dir, string dataset, string extra)
    {
        var config = ExtractBench.WriteConfig(dir, dataset, extra);
        foreach (var stage in new[] { "Ingest", "Extract", "TrainHead", "Evaluate" })
            ExtractBench.Check(BenchContext.RunProcess(ctx.StageBin(stage), $"--config {config}"), $"{stage} ({dir})");
        var extract = ExtractBench.ReadReport(dir);
        var eval = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "ws", "reports", "evaluation.json")))!;
        using var db = BottleneckPipeline.Index.IndexDb.Open(Path.Combine(dir, "ws", "index.sqlite"));
        var ids = new List<string>();
        using (var cmd = db.Command("SELECT DISTINCT content_id FROM examples ORDER BY content_id;"))
        using (var r = cmd.ExecuteReader())
            while (r.Read()) ids.Add(r.GetString(0));
        return new PipelineResult(Path.Combine(dir, "ws", "cache"), extract["fingerprint"]!.GetValue<string>(), ids,
            eval["accuracy"]!["value"]!.GetValue<double>(), eval["accuracy"]!["images"]!.GetValue<int>());
    }
}
