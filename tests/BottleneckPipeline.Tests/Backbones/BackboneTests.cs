using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Backbones;

public class BackboneTests
{
    private static BackboneSpec ResNet(ResizeMode resize = ResizeMode.Stretch, NormalizationPreset? norm = null, string? bottleneck = null) =>
        BackboneFactory.Resolve(new BackboneConfig { Name = BackboneName.Resnet18, Normalization = norm, Bottleneck = bottleneck }, resize);

    [Fact]
    public void Resnet18_bottleneck_is_its_512_d_pooled_output()
    {
        var spec = ResNet();
        Assert.Equal("Pooling395_Output_0", spec.BottleneckTensor);
        Assert.True(spec.BottleneckIsGraphOutput);
        Assert.Equal(512, spec.Dimension);
        Assert.Equal(224, spec.InputSize);
        Assert.Equal("Input247", spec.InputName);
        Assert.True(spec.FixedBatch);
        Assert.Equal(NormalizationPreset.CaffeBgr, spec.Preprocessing.Preset);
        Assert.NotNull(spec.Preprocessing.MeanImage);
    }

    /// <summary>
    /// Batch size and thread count change no bit of any vector with our session options: measured
    /// on 8 real flowers, batch 8 against one at a time, on 1 and on 2 intra-op threads, 0 of 4096
    /// ResNet-18 values differ (not merely within a tolerance). A resumed Extract run equals an
    /// uninterrupted one bit for bit, and extract.batch_size, sessions and threads count as speed
    /// settings only, because of this. The zero-weight Inception's bottleneck is all zeros, so for it
    /// equality is checked but says little; ResNet-18 is the informative case.
    /// </summary>
    [Theory]
    [InlineData(BackboneName.Resnet18, 8)]
    [InlineData(BackboneName.InceptionV3, 3)]
    public void Batched_and_single_runs_on_one_or_two_threads_give_bitwise_the_same_vectors(BackboneName name, int images)
    {
        var spec = name == BackboneName.Resnet18 ? ResNet()
            : BackboneFactory.Resolve(new BackboneConfig { Name = name, Onnx = RepoPaths.InceptionZeroWeights }, ResizeMode.Stretch);
        var input = PreparedFlowers(spec, images);
        var reference = Vectors(spec, input, images, threads: 1, batch: 1);
        Assert.Equal(images * spec.Dimension, reference.Length);
        if (name == BackboneName.Resnet18) Assert.Contains(reference, v => v != 0);
        foreach (var (threads, batch) in new[] { (1, images), (2, 1), (2, images) })
        {
            var other = Vectors(spec, input, images, threads, batch);
            var differing = reference.Zip(other).Count(p => BitConverter.SingleToInt32Bits(p.First) != BitConverter.SingleToInt32Bits(p.Second));
            Assert.True(differing == 0, $"{threads} thread(s), batch {batch}: {differing} of {reference.Length} values differ from one thread, batch 1");
        }
    }

    /// <summary>The first flowers of each class, prepared exactly as Extract prepares them.</summary>
    private static float[] PreparedFlowers(BackboneSpec spec, int count)
    {
        var files = Directory.GetDirectories(RepoPaths.Flowers).Order(StringComparer.Ordinal)
            .SelectMany(d => Directory.GetFiles(d, "*.jpg").Order(StringComparer.Ordinal).Take(2)).Take(count).ToList();
        var preparer = new ImagePreparer(spec, maxPixels: 50_000_000);
        var input = new float[count * spec.ValuesPerImage];
        for (var i = 0; i < count; i++)
        {
            var id = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(files[i])));
            Assert.Null(preparer.Prepare(new ImageWork(id, files[i], files[i]), input.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage)));
        }
        return input;
    }

    private static float[] Vectors(BackboneSpec spec, float[] input, int count, int threads, int batch)
    {
        using var session = BackboneSession.Create(spec, threads);
        var result = new List<float>();
        for (var start = 0; start < count; start += batch)
        {
            var n = Math.Min(batch, count - start);
            var output = Array.Empty<float>();
            session.Run(input.AsSpan(start * spec.ValuesPerImage, n * spec.ValuesPerImage).ToArray(), n, ref output);
            Assert.True(session.MaxBatch >= n, "the fixed batch of 1 should have been made dynamic");
            result.AddRange(output.AsSpan(0, n * session.Dimension).ToArray());
        }
        return [.. result];
    }

    [Fact]
    public void Torchvision_inception_bottleneck_is_the_classifier_input_and_yields_2048_d()
    {
        var spec = BackboneFactory.Resolve(new BackboneConfig { Name = BackboneName.InceptionV3, Onnx = RepoPaths.InceptionZeroWeights }, ResizeMode.Stretch);
        Assert.Equal("/Flatten_output_0", spec.BottleneckTensor);
        Assert.False(spec.BottleneckIsGraphOutput);
        Assert.Equal(2048, spec.Dimension);
        Assert.Equal(299, spec.InputSize);
        Assert.Equal(NormalizationPreset.Inception, spec.Preprocessing.Preset);
        Assert.False(spec.FixedBatch);

        using var session = BackboneSession.Create(spec, threads: 0);
        var output = Array.Empty<float>();
        session.Run(new float[2 * spec.ValuesPerImage], 2, ref output);
        Assert.Equal(2048, session.Dimension);
        Assert.True(output.Length >= 2 * 2048);
    }

    [Fact]
    public void Wrong_tensor_name_lists_what_the_model_has()
    {
        var e = Assert.Throws<InputException>(() => ResNet(bottleneck: "no_such_tensor"));
        Assert.Contains("no_such_tensor", e.Message);
        Assert.Contains("Input247", e.Message);
        Assert.Contains("Pooling395_Output_0", e.Message);
        Assert.Contains("candidate", e.Message);
    }

    [Fact]
    public void Missing_model_file_names_the_file_and_the_key()
    {
        var e = Assert.Throws<InputException>(() => BackboneFactory.Resolve(
            new BackboneConfig { Name = BackboneName.Custom, Onnx = "/nonexistent/model.onnx" }, ResizeMode.Stretch));
        Assert.Contains("/nonexistent/model.onnx", e.Message);
        Assert.Contains("backbone.onnx", e.Message);
    }

    [Fact]
    public void Fingerprint_changes_with_anything_that_changes_the_vectors()
    {
        var baseline = ResNet().Fingerprint;
        Assert.Equal(baseline, ResNet().Fingerprint);
        Assert.NotEqual(baseline, ResNet(resize: ResizeMode.CenterCrop).Fingerprint);
        Assert.NotEqual(baseline, ResNet(norm: NormalizationPreset.Imagenet).Fingerprint);
        var other = BackboneFactory.Resolve(new BackboneConfig { Name = BackboneName.Resnet18, InputSize = 192 }, ResizeMode.Stretch);
        Assert.NotEqual(baseline, other.Fingerprint);
    }

    [Fact]
    public void Custom_defaults_come_from_the_model_and_imagenet()
    {
        var spec = BackboneFactory.Resolve(new BackboneConfig { Name = BackboneName.Custom, Onnx = BackboneFactory.EmbeddedResNet18Path }, ResizeMode.Stretch);
        Assert.Equal(224, spec.InputSize);
        Assert.Equal(TensorLayout.Nchw, spec.Layout);
        Assert.Equal(NormalizationPreset.Imagenet, spec.Preprocessing.Preset);
        Assert.Equal(512, spec.Dimension);
    }
}
