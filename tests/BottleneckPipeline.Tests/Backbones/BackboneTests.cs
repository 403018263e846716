using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;

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

    [Fact]
    public void Resnet18_made_batch_dynamic_gives_the_same_vectors_as_one_at_a_time()
    {
        var spec = ResNet();
        using var session = BackboneSession.Create(spec, threads: 0);
        var rng = new Random(3);
        var input = new float[3 * spec.ValuesPerImage];
        for (var i = 0; i < input.Length; i++) input[i] = (float)(rng.NextDouble() * 200 - 100);
        var batched = Array.Empty<float>();
        session.Run(input, 3, ref batched);
        Assert.True(session.MaxBatch >= 3, "the fixed batch of 1 should have been made dynamic");
        Assert.Equal(512, session.Dimension);
        for (var i = 0; i < 3; i++)
        {
            var single = Array.Empty<float>();
            var one = input.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage).ToArray();
            session.Run(one, 1, ref single);
            for (var k = 0; k < 512; k++) Assert.Equal(single[k], batched[i * 512 + k], 1e-3f);
        }
        Assert.Contains(batched.Take(3 * 512), v => v != 0);
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
