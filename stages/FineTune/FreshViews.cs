namespace BottleneckPipeline.FineTune;

/// <summary>Views made from the image every time (trainable: all): a fresh random view each epoch.</summary>
internal sealed class FreshViews(IReadOnlyList<FineTuneExample> examples, ViewTensors tensors)
    : ActivationSource(examples, tensors.ValuesPerImage)
{
    // View 0 is the plain image; epoch e trains on view e + 1, a new crop and flip per image.
    public override int DrawView(int epoch, Training.SeededRandom random) => epoch + 1;

    public override void Write(int index, int view, Span<float> dest) => tensors.Write(Examples[index], view, dest);
}
