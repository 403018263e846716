using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Quantization;

/// <summary>
/// The backbone a config asks for: the float model, or with <c>backbone.precision: int8</c> its
/// statically quantized copy, built once and kept in cache.dir/models/&lt;fingerprint&gt;.onnx. That
/// fingerprint covers the float backbone's (model bytes, preprocessing, bottleneck), the calibration
/// images' content ids, the calibration method and the recipe (types, form, stem); it is also the fingerprint of the
/// int8 vectors, so they live in the cache beside the float ones and switching back costs nothing.
/// </summary>
public static class QuantizedBackbone
{
    /// <summary>Bumped whenever the quantizer would write a different graph from the same inputs.
    /// int8-2: convolutions in operator form (QLinearConv), percentile calibration's own setting.</summary>
    public const string Version = "int8-2";

    /// <summary>
    /// Unsigned activations, signed weights. ONNX Runtime's guide names S8S8 the first choice for QDQ,
    /// but on x86 (1.31) it turns S8 QDQ pairs into U8 ones before fusing (QDQS8ToU8Transformer), fuses
    /// only part of an S8S8 ResNet-18, and its QLinearConv on int8 activations is a slow generic
    /// kernel, far below U8S8 (bench/results.md, area int8 conv). U8S8's one caveat on x86, the saturation of VPMADDUBSW on
    /// AVX2/AVX-512 without VNNI (the reason for reduce_range), does not arise with VNNI, which this
    /// CPU has; on a CPU without it accuracy could drop.
    /// </summary>
    internal static QdqFormat Format { get; } = QdqFormat.U8S8;

    /// <summary>The recipe Extract uses: convolutions as QLinearConv (the same kernels as ONNX Runtime's
    /// fusion of the QDQ form, measured the same speed, without depending on its fusion rules), the stem
    /// in int8: a float32 stem keeps a little more accuracy but runs well below the int8 stem's speed
    /// (docs/int8.md; bench/results.md, area int8).</summary>
    internal static Int8Recipe Recipe { get; } = new(Format, Int8Form.Operator, FloatStem: false);

    /// <summary>Fixed seed of the calibration sample: the same index always gives the same images.</summary>
    public const string SampleSeed = "bottleneck-pipeline-calibration-1";

    public static string ModelsDir(string cacheDir) => Path.Combine(cacheDir, "models");

    public static string PathFor(string cacheDir, string fingerprint) => Path.Combine(ModelsDir(cacheDir), fingerprint + ".onnx");

    /// <param name="build">Build the quantized model when it is not cached (Extract); otherwise a missing one asks for Extract.</param>
    /// <param name="onBuild">Told, before a build starts, what is being built (for the stage's output).</param>
    public static BackboneSpec Resolve(PipelineConfig config, IndexDb db, bool build, Action<string>? onBuild = null, CancellationToken ct = default) =>
        Resolve(config, db, build, Recipe, onBuild, ct);

    internal static BackboneSpec Resolve(PipelineConfig config, IndexDb db, bool build, Int8Recipe recipe, Action<string>? onBuild = null,
        CancellationToken ct = default)
    {
        var spec = BackboneFactory.Resolve(config);
        if (config.Backbone.Precision == BackbonePrecision.Float32) return spec;
        var sample = CalibrationSample(db, config.Dataset.Root, config.Backbone.CalibrationImages);
        if (sample.Count == 0)
            throw new InputException("'backbone.precision: int8' needs training images to calibrate on, " +
                                     $"and the index {db.Path} has none in its train split. Run Ingest (make ingest), or set 'backbone.precision: float32'.");
        var calibration = CalibrationChoice.From(config.Backbone);
        var fingerprint = Fingerprint(spec, sample.Select(w => w.ContentId), calibration, recipe);
        var path = PathFor(config.CacheDir, fingerprint);
        if (!File.Exists(path))
        {
            if (!build)
                throw new InputException($"the int8 backbone {path} is not built. " +
                                         "Run the Extract stage (make extract): it builds it once from the float model.");
            onBuild?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"quantizing {spec.DisplayName} to int8 ({recipe}, {calibration} calibration on {sample.Count} training images), once: {path}"));
            Build(spec, sample, config.Dataset.MaxPixels, calibration, recipe, path, ct);
        }
        return Int8Spec(spec, path, fingerprint);
    }

    /// <summary>The float spec pointed at its quantized copy: same input, preprocessing and bottleneck.</summary>
    public static BackboneSpec Int8Spec(BackboneSpec floatSpec, string path, string fingerprint)
    {
        string sha;
        using (var stream = File.OpenRead(path)) sha = Convert.ToHexStringLower(SHA256.HashData(stream));
        // ImageSharpFingerprint too: the decode policy's reuse of ImageSharp-decoded vectors is between float folders; an int8 model
        // (calibrated on pixels the policy decoded) only reuses its own.
        return floatSpec with
        {
            ModelPath = path,
            ModelSha256 = sha,
            Fingerprint = fingerprint,
            ImageSharpFingerprint = fingerprint,
            FixedBatch = false,
            Precision = BackbonePrecision.Int8,
        };
    }

    /// <summary>Quantizes and writes the model atomically: a kill at any moment leaves no file or the whole one.</summary>
    internal static void Build(BackboneSpec spec, IReadOnlyList<ImageWork> sample, long maxPixels, CalibrationChoice calibration, Int8Recipe recipe,
        string destination, CancellationToken ct)
    {
        var model = FloatGraph.Optimized(spec);
        var plan = QdqPlan.For(model.Graph, spec.BottleneckTensor, recipe.FloatStem);
        var ranges = Calibrator.Ranges(spec, model, plan, sample, maxPixels, calibration.Method, calibration.Tail, ct);
        ct.ThrowIfCancellationRequested();
        Quantize(model, plan, ranges, recipe);
        model.MetadataProps.Add(new Onnx.StringStringEntryProto { Key = "bp_float_fingerprint", Value = spec.Fingerprint });
        model.MetadataProps.Add(new Onnx.StringStringEntryProto { Key = "bp_calibration", Value = $"{calibration}; {sample.Count} images; {recipe}" });
        var bytes = Google.Protobuf.MessageExtensions.ToByteArray(model);
        AtomicFile.WriteAllBytes(destination, bytes);
    }

    /// <summary>Rewrites the float graph <paramref name="model"/> (which <paramref name="plan"/> was made from) into the recipe's int8 form.</summary>
    internal static void Quantize(Onnx.ModelProto model, QdqPlan plan, IReadOnlyDictionary<string, (float Low, float High)> ranges, Int8Recipe recipe)
    {
        QdqQuantizer.Apply(model, plan, ranges, recipe.Format);
        if (recipe.Form == Int8Form.Operator) OperatorForm.Apply(model.Graph);
        model.ProducerName = "BottleneckPipeline int8 quantizer";
        model.ProducerVersion = Version;
    }

    internal static string Fingerprint(BackboneSpec floatSpec, IEnumerable<string> calibrationIds, CalibrationChoice calibration, Int8Recipe recipe)
    {
        var ids = string.Join('\n', calibrationIds.Order(StringComparer.Ordinal));
        var text = $"int8={Version};float={floatSpec.Fingerprint};method={calibration};format={recipe.Format};form={recipe.Form};" +
                   $"stem={(recipe.FloatStem ? "float" : "int8")};calibration={Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ids)))}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..20];
    }

    /// <summary>
    /// Up to <paramref name="count"/> training images, ranked by a seeded hash of their content id:
    /// a fixed sample, the same on every machine, that moves only where the train split itself changes.
    /// Label conflicts and quarantined images are left out.
    /// </summary>
    public static List<ImageWork> CalibrationSample(IndexDb db, string root, int count)
    {
        var all = new List<(string Rank, ImageWork Work)>();
        using var cmd = db.Command("""
            SELECT content_id, MIN(rel_path) FROM examples
            WHERE split = 'train' AND conflict = 0 AND content_id NOT IN (SELECT content_id FROM quarantine)
            GROUP BY content_id;
            """);
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var id = r.GetString(0);
            var rel = r.GetString(1);
            var rank = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(SampleSeed + ":" + id)));
            all.Add((rank, new ImageWork(id, Path.Combine(root, rel.Replace('/', Path.DirectorySeparatorChar)), rel)));
        }
        return [.. all.OrderBy(x => x.Rank, StringComparer.Ordinal).Take(count).Select(x => x.Work)];
    }
}
