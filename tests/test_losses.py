"""The objective catalogue checked against its mathematics: optimal discriminators, f-divergences on known
Gaussians, penalties on functions of known gradient, MMD, unrolling, InfoGAN code recovery, VAE terms."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from t2v.errors import ConfigError
from t2v.losses import (
    ADVERSARIAL_LOSSES,
    F_DIVERGENCES,
    EBGANLoss,
    LatentCodes,
    QHead,
    bernoulli_nll,
    clip_weights,
    f_divergence_bound,
    f_divergence_estimate,
    gaussian_nll,
    get_adversarial_loss,
    gradient_penalty,
    info_loss,
    kl_normal,
    kl_normal_std,
    mmd2,
    mmd_loss,
    mutual_information_lower_bound,
    pulling_away_term,
    r1_penalty,
    r2_penalty,
    reconstruction_energy,
    reparameterize,
    unroll_discriminator,
    unrolled_generator_loss,
)

torch.set_num_threads(1)

# P = N(0, 1) and Q = N(1, 1) for the f-divergence checks
MU_P, SD_P, MU_Q, SD_Q = 0.0, 1.0, 1.0, 1.0


def _mlp(width: int = 32, inputs: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))


def _closed_form(name: str, mu_p: float, sd_p: float, mu_q: float, sd_q: float) -> float:
    """D_f(P||Q) for 1-D Gaussians where a closed form exists (TV: equal variances only)."""
    d2 = (mu_p - mu_q) ** 2
    if name == "kl":
        return math.log(sd_q / sd_p) + (sd_p**2 + d2) / (2 * sd_q**2) - 0.5
    if name == "reverse_kl":
        return _closed_form("kl", mu_q, sd_q, mu_p, sd_p)
    if name == "pearson":  # ∫ p²/q - 1, finite when 2/σp² > 1/σq²
        a, b = 1 / sd_p**2, 1 / (2 * sd_q**2)
        integral = sd_q / (math.sqrt(2 * math.pi) * sd_p**2) * math.sqrt(math.pi / (a - b))
        return integral * math.exp(a * b * d2 / (a - b)) - 1
    if name == "hellinger":  # 2 - 2·Bhattacharyya coefficient
        s2 = sd_p**2 + sd_q**2
        return 2 - 2 * math.sqrt(2 * sd_p * sd_q / s2) * math.exp(-d2 / (4 * s2))
    if name == "tv":
        assert sd_p == sd_q
        return 2 * Normal(0.0, 1.0).cdf(torch.tensor(math.sqrt(d2) / (2 * sd_p))).item() - 1
    raise KeyError(name)


def _grid() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    x = torch.linspace(-12.0, 13.0, 200_001, dtype=torch.float64)
    p = Normal(MU_P, SD_P).log_prob(x).exp()
    q = Normal(MU_Q, SD_Q).log_prob(x).exp()
    return x, p, q, float(x[1] - x[0])


def _quadrature(name: str) -> float:
    """∫ q f(p/q) dx on a fine grid: the reference value (the only one for JS, which has no closed form)."""
    _, p, q, dx = _grid()
    return float((q * F_DIVERGENCES[name].f(p / q)).sum() * dx)


# ---------------------------------------------------------------- registry and the simple objectives


def test_registry_names_and_unknown_name() -> None:
    expected = {"minimax", "non_saturating", "lsgan", "hinge", "wgan", "wgan_gp"}
    expected |= {f"fgan_{n}" for n in ("kl", "reverse_kl", "js", "pearson", "hellinger", "tv")}
    assert set(ADVERSARIAL_LOSSES) == expected
    for name in expected:
        loss = get_adversarial_loss(name)
        real, fake = torch.randn(16), torch.randn(16)
        assert torch.allclose(loss.d_loss(real, fake), loss.d_real(real) + loss.d_fake(fake))
        assert loss.g(fake).shape == ()
    with pytest.raises(ConfigError, match="valid names: minimax, non_saturating"):
        get_adversarial_loss("wgan-gp")
    with pytest.raises(ConfigError, match="settable"):
        get_adversarial_loss("hinge", margin=2)


def test_wgan_defaults_and_overrides() -> None:
    wgan, gp = get_adversarial_loss("wgan"), get_adversarial_loss("wgan_gp")
    assert (wgan.weight_clip, wgan.n_critic, wgan.optimizer.name, wgan.optimizer.lr) == (0.01, 5, "rmsprop", 5e-5)
    assert (gp.weight_clip, gp.gp_weight, gp.n_critic) == (None, 10.0, 5)
    assert isinstance(wgan.optimizer.build(nn.Linear(2, 2).parameters()), torch.optim.RMSprop)
    tuned = get_adversarial_loss("wgan_gp", n_critic=1, optimizer={"lr": 1e-3})
    assert (tuned.n_critic, tuned.optimizer.lr, tuned.optimizer.betas) == (1, 1e-3, (0.0, 0.9))
    assert get_adversarial_loss("wgan_gp").n_critic == 5  # overrides do not leak into the class


def test_simple_objectives_closed_values() -> None:
    zero = torch.zeros(4)
    assert get_adversarial_loss("minimax").d_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert get_adversarial_loss("hinge").d_loss(zero, zero).item() == pytest.approx(2.0)
    assert get_adversarial_loss("lsgan").d_loss(zero, zero).item() == pytest.approx(0.5)
    lsgan = get_adversarial_loss("lsgan")
    assert lsgan.d_real(torch.ones(3)).item() == 0 and lsgan.g(torch.ones(3)).item() == 0
    hinge = get_adversarial_loss("hinge")
    assert hinge.d_real(torch.full((3,), 1.5)).item() == 0 and hinge.d_fake(torch.full((3,), -1.5)).item() == 0
    x = torch.tensor([0.3, -1.2, 2.0])
    wgan = get_adversarial_loss("wgan")
    assert wgan.d_loss(x, x + 1).item() == pytest.approx(1.0)  # E[D(fake)] - E[D(real)]


def test_minimax_saturates_where_non_saturating_does_not() -> None:
    """For a confident D (D(G(z)) = σ(-6)) the saturating G gradient vanishes, the -log D one stays ~1."""
    grads = {}
    for name in ("minimax", "non_saturating"):
        logits = torch.full((1,), -6.0, requires_grad=True)
        get_adversarial_loss(name).g(logits).backward()
        grads[name] = logits.grad.item()
    assert grads["minimax"] < 0 and grads["non_saturating"] < 0  # both push the fake logit up
    assert abs(grads["minimax"]) == pytest.approx(torch.sigmoid(torch.tensor(-6.0)).item(), rel=1e-4)
    assert abs(grads["non_saturating"]) > 0.99


def test_trained_minimax_discriminator_matches_optimal() -> None:
    """D*(x) = p_data / (p_data + p_g) for p_data = N(0, 1), p_g = N(1.5, 0.5²)."""
    torch.manual_seed(0)
    disc = _mlp()
    opt = torch.optim.Adam(disc.parameters(), 1e-2)
    loss = get_adversarial_loss("minimax")
    for _ in range(400):
        real, fake = torch.randn(512, 1), 1.5 + 0.5 * torch.randn(512, 1)
        d = loss.d_loss(disc(real), disc(fake))
        opt.zero_grad()
        d.backward()
        opt.step()
    x = torch.linspace(-1.5, 2.5, 81)[:, None]
    p, q = Normal(0.0, 1.0).log_prob(x).exp(), Normal(1.5, 0.5).log_prob(x).exp()
    with torch.no_grad():
        err = (torch.sigmoid(disc(x)) - p / (p + q)).abs()
    assert err.mean() < 0.03 and err.max() < 0.1


# ---------------------------------------------------------------- f-GAN


@pytest.mark.parametrize("name", ["kl", "reverse_kl", "pearson", "hellinger", "tv"])
def test_f_matches_closed_form(name: str) -> None:
    """Each generator function f integrates to the divergence's closed form on two Gaussians."""
    assert _quadrature(name) == pytest.approx(_closed_form(name, MU_P, SD_P, MU_Q, SD_Q), rel=1e-4)


def test_js_is_twice_jensen_shannon() -> None:
    _, p, q, dx = _grid()
    m = (p + q) / 2
    jsd = 0.5 * float((p * (p / m).log()).sum() * dx) + 0.5 * float((q * (q / m).log()).sum() * dx)
    assert _quadrature("js") == pytest.approx(2 * jsd, rel=1e-5)


def test_fgan_js_is_the_non_saturating_gan_up_to_constants() -> None:
    """With g_f(v) = log 2 - log(1 + e^{-v}) the f-GAN JS losses are the GAN's shifted by log 2: same gradients."""
    js, gan = get_adversarial_loss("fgan_js"), get_adversarial_loss("non_saturating")
    v = torch.linspace(-4, 4, 17)
    assert torch.allclose(js.d_real(v), gan.d_real(v) - math.log(2))
    assert torch.allclose(js.d_fake(v), gan.d_fake(v) - math.log(2))
    assert torch.allclose(js.g(v), gan.g(v) - math.log(2))


@pytest.mark.parametrize("name", list(F_DIVERGENCES))
def test_activation_conjugate_consistency(name: str) -> None:
    """f*(g_f(v)) computed stably equals the composition, and Fenchel–Young f*(t) >= t·u - f(u) holds."""
    div = F_DIVERGENCES[name]
    v = torch.linspace(-3, 3, 61, dtype=torch.float64)
    t = div.activation(v)
    assert torch.allclose(div.conjugate_of_logits(v), div.conjugate(t), atol=1e-9)
    u = torch.linspace(0.05, 5, 50, dtype=torch.float64)
    assert (div.conjugate(t)[:, None] >= t[:, None] * u[None] - div.f(u)[None] - 1e-9).all()
    # the supremum is attained at t = f'(u): f*(f'(u)) = u·f'(u) - f(u)
    tu = div.f_prime(u[u != 1])
    uu = u[u != 1]
    if name == "tv":  # f* of TV is t on [-½, ½]; f'(u) = ±½ sits on its boundary
        assert torch.allclose(div.conjugate(tu), tu * uu - div.f(uu))
    else:
        assert torch.allclose(div.conjugate(tu), tu * uu - div.f(uu), atol=1e-9)


@pytest.mark.parametrize("name", list(F_DIVERGENCES))
def test_optimal_critic_attains_divergence(name: str) -> None:
    """With T* = f'(p/q) the bound E_P[T] - E_Q[f*(T)] equals D_f (quadrature and Monte Carlo); a perturbed T
    gives less."""
    div = F_DIVERGENCES[name]
    x, p, q, dx = _grid()
    reference = _quadrature(name)
    t_star = div.f_prime(p / q)
    exact = float((p * t_star).sum() * dx - (q * div.conjugate(t_star)).sum() * dx)
    assert exact == pytest.approx(reference, rel=1e-4, abs=1e-6)
    torch.manual_seed(0)
    xp = MU_P + SD_P * torch.randn(400_000, dtype=torch.float64)
    xq = MU_Q + SD_Q * torch.randn(400_000, dtype=torch.float64)

    def t_fn(z: torch.Tensor) -> torch.Tensor:
        ratio = Normal(MU_P, SD_P).log_prob(z).exp() / Normal(MU_Q, SD_Q).log_prob(z).exp()
        return div.f_prime(ratio)

    mc = f_divergence_bound(name, t_fn(xp), t_fn(xq)).item()
    assert mc == pytest.approx(reference, rel=0.03)
    worse = float((p * 0.7 * t_star).sum() * dx - (q * div.conjugate(0.7 * t_star)).sum() * dx)
    assert worse < exact - 1e-3


@pytest.mark.parametrize("name", list(F_DIVERGENCES))
def test_trained_critic_estimates_divergence(name: str) -> None:
    """A small critic trained with the f-GAN D loss estimates D_f(N(0,1) || N(1,1)) from below, within 12%."""
    torch.manual_seed(0)
    critic = _mlp()
    opt = torch.optim.Adam(critic.parameters(), 5e-3)
    loss = get_adversarial_loss(f"fgan_{name}")
    for _ in range(300):
        xp, xq = MU_P + SD_P * torch.randn(1024, 1), MU_Q + SD_Q * torch.randn(1024, 1)
        d = loss.d_loss(critic(xp), critic(xq))
        opt.zero_grad()
        d.backward()
        opt.step()
    with torch.no_grad():
        xp, xq = MU_P + SD_P * torch.randn(100_000, 1), MU_Q + SD_Q * torch.randn(100_000, 1)
        estimate = f_divergence_estimate(name, critic(xp), critic(xq)).item()
    reference = _quadrature(name)
    assert estimate == pytest.approx(reference, rel=0.12)
    assert estimate < reference * 1.02  # a lower bound, up to Monte Carlo noise


# ---------------------------------------------------------------- regularisers


def test_gradient_penalty_on_linear_critic() -> None:
    """f(x) = a·x (+ a conditioning offset) has gradient norm |a| everywhere: GP = (|a| - target)²."""
    a = torch.tensor([[3.0, 4.0]], requires_grad=True)  # |a| = 5

    def critic(x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) * a).sum(1) + offset

    real, fake, offset = torch.randn(8, 2), torch.randn(8, 2), torch.randn(8)
    gp = gradient_penalty(critic, real, fake, offset)
    assert gp.item() == pytest.approx(16.0, rel=1e-5)
    assert gradient_penalty(critic, real, fake, offset, target=0.0).item() == pytest.approx(25.0, rel=1e-5)
    gp.backward()  # d/da (|a| - 1)² = 2(|a| - 1) a / |a|
    assert torch.allclose(a.grad, 2 * 4 * a.detach() / 5)
    images = torch.randn(4, 3, 5, 5)
    conv_gp = gradient_penalty(lambda x: 2.0 * x.sum(dim=(1, 2, 3)), images, torch.randn_like(images))
    assert conv_gp.item() == pytest.approx((2 * math.sqrt(75) - 1) ** 2, rel=1e-5)


def test_r1_r2_penalties() -> None:
    """D(x) = c/2·||x||² has gradient c·x, so R1 = ½·E[c²||x||²]."""
    c = 1.5
    x = torch.randn(6, 3, requires_grad=True)
    expected = 0.5 * (c**2 * x.detach().pow(2).sum(1)).mean().item()
    logits = 0.5 * c * x.pow(2).sum(1)
    assert r1_penalty(logits, x).item() == pytest.approx(expected, rel=1e-5)
    assert r2_penalty(0.5 * c * x.pow(2).sum(1), x).item() == pytest.approx(expected, rel=1e-5)


def test_clip_weights() -> None:
    torch.manual_seed(0)
    net = _mlp()
    clip_weights(net, 0.01)
    values = torch.cat([p.flatten() for p in net.parameters()])
    assert values.abs().max() <= 0.01 and (values.abs() == 0.01).any()


# ---------------------------------------------------------------- MMD / GMMN


def test_mmd_zero_for_identical_positive_for_different() -> None:
    torch.manual_seed(0)
    same = torch.stack([mmd2(torch.randn(64, 2), torch.randn(64, 2)) for _ in range(200)])
    shifted = torch.stack([mmd2(torch.randn(64, 2), torch.randn(64, 2) + 0.5) for _ in range(200)])
    se = same.std() / math.sqrt(len(same))
    assert same.mean().abs() < 3 * se  # unbiased: zero in expectation
    assert shifted.mean() > 20 * se and (shifted > 0).float().mean() > 0.95
    x = torch.randn(32, 2)
    assert mmd2(x, x, unbiased=False).abs() < 1e-5  # biased V-statistic is exactly 0 for the same sample
    assert mmd2(x, torch.randn(32, 2), unbiased=False) > 0


def test_gmmn_objective_alone_fits_a_gaussian() -> None:
    """An affine generator trained only on the MMD loss recovers the mean and scale of N((2, -1), 0.5²)."""
    torch.manual_seed(0)
    shift = torch.zeros(2, requires_grad=True)
    log_scale = torch.zeros(2, requires_grad=True)
    opt = torch.optim.Adam([shift, log_scale], 0.05)
    target_mean = torch.tensor([2.0, -1.0])
    for _ in range(300):
        fake = torch.randn(128, 2) * log_scale.exp() + shift
        loss = mmd_loss(fake, target_mean + 0.5 * torch.randn(128, 2))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.allclose(shift.detach(), target_mean, atol=0.15)
    assert torch.allclose(log_scale.exp().detach(), torch.full((2,), 0.5), atol=0.1)


# ---------------------------------------------------------------- Unrolled GAN


class _BNDisc(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def test_unrolled_leaves_real_discriminator_untouched() -> None:
    torch.manual_seed(0)
    disc, gen = _BNDisc(), nn.Linear(2, 2)
    before = copy.deepcopy(disc.state_dict())
    loss = get_adversarial_loss("non_saturating")
    real, fake = torch.randn(32, 2) + 1, gen(torch.randn(32, 2))
    unrolled = unrolled_generator_loss(disc, loss, real, fake, steps=5, lr=0.05)
    unrolled.backward()
    for key, value in disc.state_dict().items():
        assert torch.equal(value, before[key]), key  # parameters and BatchNorm running statistics
    assert all(p.grad is None for p in disc.parameters())
    assert all(p.grad is not None for p in gen.parameters())
    plain = loss.g(disc(gen(torch.randn(32, 2))))
    assert not torch.isclose(unrolled, plain)
    fake = gen(torch.randn(32, 2))
    zero = unrolled_generator_loss(disc, loss, real, fake, steps=0, lr=0.05)
    assert torch.allclose(zero, loss.g(disc(fake)))


def _d_steps(disc: nn.Module, opt: torch.optim.Optimizer, loss_fn, n: int) -> None:
    for _ in range(n):
        d = loss_fn(disc)
        opt.zero_grad()
        d.backward()
        opt.step()


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "live_adam"])
def test_unrolled_steps_match_torch_optimizers(optimizer: str) -> None:
    """The functional steps equal k steps of torch.optim on a deep copy of D (same batch each step); with D's
    own Adam they continue from its moments and leave that optimizer untouched."""
    torch.manual_seed(0)
    disc = _mlp(16, inputs=2)
    loss = get_adversarial_loss("hinge")
    real, fake = torch.randn(64, 2), torch.randn(64, 2) + 2

    def loss_fn(d) -> torch.Tensor:
        return loss.d_loss(d(real), d(fake))

    if optimizer == "sgd":
        choice, ref_opt = "sgd", lambda ps: torch.optim.SGD(ps, 0.01)
    elif optimizer == "adam":
        choice, ref_opt = "adam", lambda ps: torch.optim.Adam(ps, 0.01, betas=(0.5, 0.999))
    else:
        choice = torch.optim.Adam(disc.parameters(), 0.01, betas=(0.5, 0.99))
        _d_steps(disc, choice, loss_fn, 2)
        saved = copy.deepcopy(choice.state_dict())

        def ref_opt(ps) -> torch.optim.Optimizer:
            opt = torch.optim.Adam(ps, 0.01, betas=(0.5, 0.99))
            opt.load_state_dict(copy.deepcopy(saved))
            return opt

    ref = copy.deepcopy(disc)
    d_k = unroll_discriminator(disc, loss_fn, steps=3, lr=0.01, optimizer=choice)
    _d_steps(ref, ref_opt(ref.parameters()), loss_fn, 3)
    x = torch.randn(16, 2)
    assert torch.allclose(d_k(x), ref(x), atol=1e-5)
    if optimizer == "live_adam":
        state = choice.state_dict()["state"]
        assert all(torch.equal(state[i]["exp_avg"], saved["state"][i]["exp_avg"]) for i in state)
        assert all(int(state[i]["step"]) == 2 for i in state)


def test_unrolled_gradient_flows_through_the_steps() -> None:
    """Back-propagating through the unrolled updates changes G's gradient compared with a detached unroll."""
    torch.manual_seed(0)
    disc, gen = _mlp(16, inputs=2), nn.Linear(2, 2)
    loss = get_adversarial_loss("non_saturating")
    real, z = torch.randn(64, 2) + 1, torch.randn(64, 2)
    grads = []
    for differentiable in (True, False):
        gen.zero_grad()
        unrolled_generator_loss(disc, loss, real, gen(z), steps=3, lr=0.1, differentiable=differentiable).backward()
        grads.append(gen.weight.grad.clone())
    assert not torch.allclose(grads[0], grads[1], atol=1e-6)


# ---------------------------------------------------------------- InfoGAN


def test_codes_and_information_bound() -> None:
    codes = LatentCodes(categorical=[3, 5], continuous=2)
    sample = codes.sample(7)
    assert sample.vector.shape == (7, 10) and sample.categorical.shape == (7, 2)
    assert sample.continuous.abs().max() <= 1
    assert codes.entropy() == pytest.approx(math.log(3) + math.log(5) + 2 * math.log(2))
    head = QHead(4, codes)
    q = head(torch.randn(7, 4))
    assert [t.shape for t in q.categorical_logits] == [(7, 3), (7, 5)] and q.mean.shape == (7, 2)
    # a Q that puts all its mass on the true categorical codes bounds I(c;x) by H(cat) + the continuous term
    one_hot = nn.functional.one_hot
    q.categorical_logits = [100 * one_hot(sample.categorical[:, i], k).float() for i, k in ((0, 3), (1, 5))]
    q.mean, q.logstd = sample.continuous.clone(), torch.full_like(q.mean, -3.0)
    bound = mutual_information_lower_bound(q, sample, codes).item()
    assert bound == pytest.approx(codes.entropy() - 2 * (0.5 * math.log(2 * math.pi) - 3.0), abs=1e-3)


def test_infogan_recovers_categorical_code() -> None:
    """G(z, c) with a 3-way code on a mixture of 3 clusters: each code value lands in its own cluster."""
    torch.manual_seed(0)
    k = 3
    centers = torch.tensor([[2 * math.cos(2 * math.pi * i / k), 2 * math.sin(2 * math.pi * i / k)] for i in range(k)])
    codes = LatentCodes(categorical=[k])
    gen = nn.Sequential(nn.Linear(2 + codes.dim, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    trunk = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2))
    head, q_head = nn.Linear(64, 1), QHead(64, codes, hidden=64)
    loss = get_adversarial_loss("lsgan")
    opt_g = torch.optim.Adam([*gen.parameters(), *q_head.parameters()], 1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*trunk.parameters(), *head.parameters()], 1e-3, betas=(0.5, 0.999))
    for _ in range(600):
        real = centers[torch.randint(k, (128,))] + 0.1 * torch.randn(128, 2)
        c = codes.sample(128)
        fake = gen(torch.cat([torch.randn(128, 2), c.vector], 1))
        d = loss.d_loss(head(trunk(real)), head(trunk(fake.detach())))
        opt_d.zero_grad()
        d.backward()
        opt_d.step()
        features = trunk(fake)
        g = loss.g(head(features)) + info_loss(q_head(features), c)
        opt_g.zero_grad()
        g.backward()
        opt_g.step()
    with torch.no_grad():
        cluster_of_code = []
        for value in range(k):
            c = codes.encode(torch.full((400, 1), value), torch.zeros(400, 0))
            x = gen(torch.cat([torch.randn(400, 2), c.vector], 1))
            counts = torch.bincount(torch.cdist(x, centers).argmin(1), minlength=k)
            assert counts.max() >= 0.9 * 400  # one code value -> one cluster
            cluster_of_code.append(int(counts.argmax()))
        c = codes.sample(1000)
        features = trunk(gen(torch.cat([torch.randn(1000, 2), c.vector], 1)))
        mi = mutual_information_lower_bound(q_head(features), c, codes)
    assert sorted(cluster_of_code) == list(range(k))  # ...and every cluster has its code
    assert mi.item() > 0.9 * math.log(k)


# ---------------------------------------------------------------- EBGAN


def test_ebgan_energy_margin_and_pulling_away() -> None:
    x = torch.randn(5, 3, 4)
    assert torch.allclose(reconstruction_energy(x + 0.5, x), torch.full((5,), 0.25))
    assert pulling_away_term(torch.eye(4)).item() == pytest.approx(0.0, abs=1e-7)
    parallel = torch.ones(4, 3) * torch.tensor([[1.0], [2.0], [-1.0], [3.0]])
    assert pulling_away_term(parallel).item() == pytest.approx(1.0)
    loss = EBGANLoss(margin=1.0, pt_weight=0.1)
    energy = torch.tensor([1.5, 0.25], requires_grad=True)
    d_fake = loss.d_fake(energy)
    assert d_fake.item() == pytest.approx(0.375)  # only the sample under the margin counts
    d_fake.backward()
    assert energy.grad.tolist() == [0.0, -0.5]
    emb = torch.eye(2)
    assert loss.g(torch.tensor([0.5, 1.5]), emb).item() == pytest.approx(1.0)
    assert loss.d_loss(torch.tensor([0.2]), torch.tensor([0.4])).item() == pytest.approx(0.8)


# ---------------------------------------------------------------- VAE terms


def test_gaussian_kl_terms_match_torch_distributions() -> None:
    torch.manual_seed(0)
    mu_q, lv_q, mu_p, lv_p = torch.randn(4, 6), torch.randn(4, 6), torch.randn(4, 6), torch.randn(4, 6)
    ref = kl_divergence(Normal(mu_q, (0.5 * lv_q).exp()), Normal(mu_p, (0.5 * lv_p).exp())).sum(1)
    assert torch.allclose(kl_normal(mu_q, lv_q, mu_p, lv_p, reduction="none"), ref, atol=1e-5)
    assert kl_normal(mu_q, lv_q, mu_p, lv_p).item() == pytest.approx(ref.mean().item(), rel=1e-5)
    zeros = torch.zeros_like(mu_q)
    to_std = kl_normal(mu_q, lv_q, zeros, zeros, reduction="sum")
    assert torch.allclose(kl_normal_std(mu_q, lv_q, reduction="sum"), to_std)
    assert kl_normal(mu_q, lv_q, mu_q, lv_q).abs().item() < 1e-6
    # Monte Carlo check of KL(q || N(0, I)) = E_q[log q(z) - log p(z)] with reparameterised samples
    mu, lv = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.7]])
    z = reparameterize(mu.expand(200_000, 2), lv.expand(200_000, 2))
    mc = (Normal(mu, (0.5 * lv).exp()).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(1).mean()
    assert mc.item() == pytest.approx(kl_normal_std(mu, lv).item(), rel=0.02)
    assert torch.allclose(z.mean(0), mu[0], atol=0.01) and torch.allclose(z.var(0), lv[0].exp(), rtol=0.02)


def test_reparameterize_is_differentiable() -> None:
    mu, lv = torch.zeros(3, 2, requires_grad=True), torch.zeros(3, 2, requires_grad=True)
    reparameterize(mu, lv).sum().backward()
    assert torch.equal(mu.grad, torch.ones(3, 2)) and lv.grad.abs().sum() > 0


def test_reconstruction_likelihoods() -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(3, 1, 4, 4), torch.randint(0, 2, (3, 1, 4, 4)).float()
    ref = -Bernoulli(logits=logits).log_prob(target).flatten(1).sum(1)
    assert torch.allclose(bernoulli_nll(logits, target, reduction="none"), ref, atol=1e-5)
    mean, x, lv = torch.randn(3, 5), torch.randn(3, 5), torch.randn(3, 5)
    ref = -Normal(mean, (0.5 * lv).exp()).log_prob(x).sum(1)
    assert torch.allclose(gaussian_nll(mean, x, lv, reduction="none"), ref, atol=1e-5)
    fixed = -Normal(mean, 1.0).log_prob(x).sum()
    assert gaussian_nll(mean, x, reduction="sum").item() == pytest.approx(fixed.item(), rel=1e-5)
    with pytest.raises(ConfigError, match="reduction"):
        gaussian_nll(mean, x, reduction="avg")


def test_saliency_weights_mark_a_small_figure_not_the_flat_background() -> None:
    from t2v.losses import saliency_weights, weighted_l1

    img = torch.full((2, 3, 32, 32), -0.2)
    img[:, :, 10:14, 20:22] = 0.9  # a thin bright figure on a flat background
    w = saliency_weights(img, weight=20.0)
    assert w.shape == (2, 1, 32, 32)
    assert torch.all(w[:, :, 10:14, 20:22] == 21) and w[:, :, :5, :5].eq(1).all()
    clip = img.unsqueeze(2).repeat(1, 1, 4, 1, 1)  # [B, C, T, H, W]: frames weighted independently
    torch.testing.assert_close(saliency_weights(clip, 20.0), w.unsqueeze(2).repeat(1, 1, 4, 1, 1))
    pred = torch.zeros_like(img)
    torch.testing.assert_close(weighted_l1(pred, img, 0.0), torch.nn.functional.l1_loss(pred, img))
    # missing the figure costs 21x more per pixel than missing background
    miss_fig, miss_bg = img.clone(), img.clone()
    miss_fig[:, :, 10:14, 20:22] = -0.2
    miss_bg[:, :, 0:4, 0:2] += 1.1
    assert weighted_l1(miss_fig, img, 20.0) > 15 * weighted_l1(miss_bg, img, 20.0)
    with pytest.raises(ValueError, match="expected"):
        saliency_weights(img[0], 20.0)


def test_mode_seeking_loss_is_the_reciprocal_of_the_output_to_noise_distance_ratio() -> None:
    from t2v.losses import mode_seeking_loss

    z_a, z_b = torch.zeros(4, 8), torch.full((4, 8), 2.0)  # mean |z_a - z_b| = 2
    a = torch.zeros(4, 3, 5, 5, requires_grad=True)
    b = torch.full((4, 3, 5, 5), 0.5)  # mean |a - b| = 0.5 -> ratio 0.25
    loss = mode_seeking_loss(a, b, z_a, z_b, eps=0.0)
    assert loss.item() == pytest.approx(4.0)
    loss.backward()  # descending it moves a away from b (a < b, so the gradient on a is positive)
    assert (a.grad > 0).all()
    ignores_noise = mode_seeking_loss(b.clone(), b, z_a, z_b)  # identical outputs: the 1 / eps ceiling
    assert ignores_noise.item() == pytest.approx(1e5)
