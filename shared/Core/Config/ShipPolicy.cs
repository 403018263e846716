namespace BottleneckPipeline.Config;

/// <summary>evaluate.ship: which model Evaluate exports as model.onnx when FineTune has made one.</summary>
public enum ShipPolicy
{
    /// <summary>Chosen on the validation split: the higher accuracy, then the lower loss; a tie ships the head alone.</summary>
    Auto,
    /// <summary>The head alone on the original backbone, whatever validation says.</summary>
    Head,
    /// <summary>The fine-tuned network, whatever validation says.</summary>
    FineTuned,
}
